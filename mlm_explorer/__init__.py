"""MLM Explorer: see how a masked language model fills in blanks.

The library computes; it never imports gradio (only ``mlm_explorer.ui`` does).
"""

__version__ = "0.1.0"
