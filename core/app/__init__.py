"""The application layer: the ``aware3d`` command, the worker the Blender add-on drives, batch
export and downloads. It is the only layer that imports :mod:`aware3d.exporters`; the library
(``aware3d`` and ``aware3d.models``) never imports it."""
