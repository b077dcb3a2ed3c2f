"""Only the 127 joints of an `smplx` SMPL-X model, without skinning all 10475 vertices (for fitting speed).

Contract: `JointsOnly(model)(betas (B, nb), expression (B, ne), global_orient, body_pose (B, 63),
left_hand_pose / right_hand_pose (B, num_pca_comps) PCA, jaw_pose (B, 3), transl)` -> (B, 127, 3), the same
numbers as `model(...).joints` (use_face_contour=False, eyes at rest): the skeleton joints come from the
regressor applied to the shape blend shapes (precomputed), and linear blend skinning runs only on the vertices
that the extra joints (nose, eyes, ears, feet, fingertips) and the 51 face landmarks read. The kinematic chain is
composed one tree level at a time (about 10 batched matmuls for SMPL-X's 55 joints instead of one per joint).
"""
from __future__ import annotations

import torch
from smplx.lbs import batch_rodrigues, transform_mat


def chain_plan(parents: list[int]) -> tuple[list[tuple[list[int], list[int]]], list[int]]:
    """Compose the kinematic chain one tree depth at a time: per depth (the joints, their parents' positions in the
    concatenated result so far), and the permutation that puts the result back in joint order."""
    depth = [0] * len(parents)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1          # SMPL-X lists every parent before its children
    order, steps = [0], []
    for d in range(1, max(depth) + 1):
        joints = [j for j in range(1, len(parents)) if depth[j] == d]
        steps.append((joints, [order.index(parents[j]) for j in joints]))
        order += joints
    return steps, [order.index(j) for j in range(len(parents))]


def rigid_chain(rot: torch.Tensor, J: torch.Tensor, parents: torch.Tensor, plan) -> tuple[torch.Tensor, torch.Tensor]:
    """smplx's `batch_rigid_transform`, one tree depth per batched matmul: rot (B, N, 3, 3), rest joints J (B, N, 3)
    -> (posed joints (B, N, 3), transforms relative to the rest pose (B, N, 4, 4))."""
    B, N = J.shape[:2]
    rel = torch.cat([J[:, :1], J[:, 1:] - J[:, parents[1:]]], 1)
    local = transform_mat(rot.reshape(-1, 3, 3), rel.reshape(-1, 3, 1)).reshape(B, N, 4, 4)
    steps, back = plan
    chain = local[:, :1]
    for joints, pos in steps:
        chain = torch.cat([chain, chain[:, pos] @ local[:, joints]], 1)
    transforms = chain[:, back]
    rest = torch.nn.functional.pad(J.unsqueeze(-1), [0, 0, 0, 1])                # (B, N, 4, 1)
    return transforms[..., :3, 3], transforms - torch.nn.functional.pad(transforms @ rest, [3, 0])


class JointsOnly(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        extra = model.vertex_joint_selector.extra_joints_idxs
        lmk_faces = model.faces_tensor[model.lmk_faces_idx]                      # (51, 3)
        vids, inv = torch.unique(torch.cat([extra, lmk_faces.reshape(-1)]), return_inverse=True)
        n_extra = extra.numel()
        self.register_buffer("extra_pos", inv[:n_extra])
        self.register_buffer("lmk_pos", inv[n_extra:].reshape(-1, 3))
        self.register_buffer("lmk_bary", model.lmk_bary_coords.clone())
        dirs = torch.cat([model.shapedirs, model.expr_dirs], -1)                 # (V, 3, nb + ne)
        jr = model.J_regressor
        self.register_buffer("J_template", jr @ model.v_template)
        self.register_buffer("J_dirs", torch.einsum("jv,vcd->jcd", jr, dirs))
        self.register_buffer("v_template", model.v_template[vids])
        self.register_buffer("dirs", dirs[vids])
        P = model.posedirs.shape[0]
        self.register_buffer("posedirs", model.posedirs.reshape(P, -1, 3)[:, vids].reshape(P, -1))
        self.register_buffer("weights", model.lbs_weights[vids])
        self.register_buffer("parents", model.parents.clone())
        self.plan = chain_plan(model.parents.tolist())
        self.register_buffer("lh_comp", model.left_hand_components.clone())
        self.register_buffer("rh_comp", model.right_hand_components.clone())
        self.register_buffer("pose_mean", model.pose_mean.clone())

    def forward(self, betas, expression, global_orient, body_pose, left_hand_pose, right_hand_pose, jaw_pose,
                transl):
        B = body_pose.shape[0]
        z = body_pose.new_zeros(B, 6)
        full = torch.cat([global_orient, body_pose, jaw_pose, z, left_hand_pose @ self.lh_comp,
                          right_hand_pose @ self.rh_comp], -1) + self.pose_mean
        coeffs = torch.cat([betas, expression], -1)
        J = self.J_template + torch.einsum("bd,jcd->bjc", coeffs, self.J_dirs)
        v = self.v_template + torch.einsum("bd,vcd->bvc", coeffs, self.dirs)
        rot = batch_rodrigues(full.reshape(-1, 3)).reshape(B, -1, 3, 3)
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        v = v + ((rot[:, 1:] - eye).reshape(B, -1) @ self.posedirs).reshape(B, -1, 3)
        J_posed, A = rigid_chain(rot, J, self.parents, self.plan)
        T = torch.einsum("vj,bjk->bvk", self.weights, A.reshape(B, -1, 16)).reshape(B, -1, 4, 4)
        v = (T[..., :3, :3] @ v.unsqueeze(-1)).squeeze(-1) + T[..., :3, 3]
        lmk = torch.einsum("blfc,lf->blc", v[:, self.lmk_pos], self.lmk_bary)
        return torch.cat([J_posed, v[:, self.extra_pos], lmk], 1) + transl.unsqueeze(1)
