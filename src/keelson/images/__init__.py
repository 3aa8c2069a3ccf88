"""The layered image pipeline: build the tree under images/ in FROM order, tag by content, push to
a registry and verify what the registry serves.

An image is a directory with a Dockerfile under one of the tree's groups (`base`, `runtime/*`,
`service/*`, `cluster/*`). Its name is its path (`runtime/python`), its local reference
`keelson/<name>:<content tag>` and its registry repository `<registry>/<name>`. The graph comes
from the Dockerfiles alone: a FROM naming `keelson/<name>` (written out or through an ARG default)
is an edge to that image. The content tag is a digest of the build context, the parents' content
tags and any bundle files the image takes, so a change anywhere above an image changes its tag:
an image whose tag exists locally is unchanged, everything else is built.
"""

from keelson.images.builder import BuildReport, build, built_locally, ensure_image, local_image_id
from keelson.images.registry import PushReport, VerifyReport, push, remote_manifest, verify
from keelson.images.tags import Planned, context_digest, plan, render_graph
from keelson.images.tree import (
    NAMESPACE,
    PROVIDED,
    Image,
    Progress,
    Tree,
    default_images_dir,
    load_tree,
    parse_dockerfile,
)

__all__ = [
    "NAMESPACE",
    "PROVIDED",
    "BuildReport",
    "Image",
    "Planned",
    "Progress",
    "PushReport",
    "Tree",
    "VerifyReport",
    "build",
    "built_locally",
    "context_digest",
    "default_images_dir",
    "ensure_image",
    "load_tree",
    "local_image_id",
    "parse_dockerfile",
    "plan",
    "push",
    "remote_manifest",
    "render_graph",
    "verify",
]
