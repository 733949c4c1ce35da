"""Model Secrets: the companion package of the course's notebooks.

Importing it is cheap: TensorFlow and the data are loaded only by the modules that need them.
"""
__version__ = "0.1.0"
