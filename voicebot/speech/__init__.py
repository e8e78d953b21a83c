"""Local speech engines shared by the embedded server and other drivers.

Submodules: :mod:`.voices` (the voice table, pure), :mod:`.sentences` (sentence
splitting, pure), :mod:`.synth` (eSpeak NG), :mod:`.recognize` (pocketsphinx).
This ``__init__`` imports nothing, so importing a pure submodule stays light.
"""
