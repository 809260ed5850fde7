"""artstyle: audit, balance, classify, cluster, stylize and LoRA-paint WikiArt-style collections."""

from artstyle.threads import prefer_passive_threads

# before anything imports torch: idle OpenMP threads sleep instead of spinning (artstyle.threads)
prefer_passive_threads()
