"""aware3d.exporters: turn a field into a textured, validated GLB (sparse marching cubes,
clean-up, UV unwrap, texture bake, glTF writer). Depends on the Field protocol only."""
