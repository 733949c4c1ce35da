"""Model Secrets: the companion package of the course's notebooks.

Importing it is cheap: TensorFlow and the data are loaded only by the modules that need them. It first settles what
differs between the supported stacks (``course_lib.stack``), before anything loads TensorFlow.
"""
from course_lib import stack as _stack

_stack.configure()

__version__ = "0.1.0"
