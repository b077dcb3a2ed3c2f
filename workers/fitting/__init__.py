"""SMPL-X fitting (the SMPLify-X role) as a library: 2D whole-body keypoints -> SMPL-X parameters and 3D joints."""
