"""The built-in synthetic 27-style data set: procedural paintings in the course layout.

Each WikiArt style has its own painter, written with vectorised numpy: dots for
Pointillism, short broken strokes for Impressionism, faceted planes for the
Cubisms, flat bands for Colour Field, drips for Action painting, and so on.
Related styles share a painter with different settings (the three Cubisms, the
four Renaissance periods, the Realisms, Impressionism next to
Post-Impressionism), and every style draws its colours from the same shared,
randomised pools, so the style sits in texture and shape rather than in the
mean colour. Counts follow the course's training proportions, with a test
split of about a fifth per style that lacks Action_painting, like the course.

Everything is a function of ``seed``: each image has its own generator derived
from (seed, split, style, index), so the same seed gives the same bytes (with
the same numpy and Pillow versions) and a larger ``scale`` keeps the images a
smaller one made.

The package, in the order the data flows: styles.py (the 27 styles and the
images per split), brush.py (colour pools and drawing tools), the painters by
family (painters_brushwork.py, painters_scenes.py, painters_flat.py) and
painters.py (the style -> painter table and :func:`paint`), writer.py (image
names, jobs, parallel painting, staging and the swap into place).

    artstyle data synth data/synthetic --scale 0.2
"""

from artstyle.data.synthetic.painters import PAINTERS, paint
from artstyle.data.synthetic.styles import (
    COURSE_TRAIN_COUNTS,
    DEFAULT_SIZE,
    DEFAULT_TEST_FRACTION,
    DEMO_SCALE,
    MIN_TRAIN_PER_STYLE,
    STYLES,
    STYLES_MISSING_IN_TEST,
    WIKIART_COUNTS,
    synth_counts,
)
from artstyle.data.synthetic.writer import (
    FORMAT_VERSION,
    GENERATOR_NAME,
    JPEG_QUALITY,
    MARKER_FILE,
    artists_of,
    image_rng,
    make_synthetic,
    render_image,
)

__all__ = [
    "COURSE_TRAIN_COUNTS",
    "DEFAULT_SIZE",
    "DEFAULT_TEST_FRACTION",
    "DEMO_SCALE",
    "FORMAT_VERSION",
    "GENERATOR_NAME",
    "JPEG_QUALITY",
    "MARKER_FILE",
    "MIN_TRAIN_PER_STYLE",
    "PAINTERS",
    "STYLES",
    "STYLES_MISSING_IN_TEST",
    "WIKIART_COUNTS",
    "artists_of",
    "image_rng",
    "make_synthetic",
    "paint",
    "render_image",
    "synth_counts",
]
