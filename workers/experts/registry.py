"""Expert registry: name -> class. Cluster experts (user-supplied weights) register here too."""
from __future__ import annotations

from .dlib68 import Dlib68Expert
from .facemesh import FaceMeshExpert
from .hands import HandsExpert
from .holistic import HolisticExpert
from .holistic_roi import HolisticRoiExpert
from .pose import PoseExpert
from .rtm import RTMPoseExpert, RTMWExpert
from .yolo_pose import YoloPoseExpert

EXPERTS = {cls.name: cls for cls in (HolisticExpert, HolisticRoiExpert, PoseExpert, HandsExpert, FaceMeshExpert,
                                     Dlib68Expert, YoloPoseExpert, RTMPoseExpert, RTMWExpert)}
