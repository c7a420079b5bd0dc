"""A tiny kustomize: the subset Parley's manifests use, so the tests need no kustomize binary.

Supported: ``resources`` (files and directories holding a kustomization.yaml), ``namespace``,
``images`` (``name`` → ``newName``/``newTag``) and ``patches`` given by ``path``, each a
strategic-merge patch naming its target by kind and name. A kustomization using anything else
is refused, so the subset cannot grow unnoticed. Strategic merge as kustomize does it: maps are
merged; the lists Kubernetes merges by name (containers, env, ports, volumes, volumeMounts) are
merged item by item on ``name``; every other list, and every list of a custom resource, is
replaced whole.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
MERGED_BY_NAME = {"containers", "initContainers", "env", "ports", "volumes", "volumeMounts"}
NATIVE_GROUPS = {"v1", "apps/v1", "policy/v1", "autoscaling/v2", "batch/v1"}

Resource = dict[str, Any]


class Unsupported(Exception):
    """The kustomization uses a feature this renderer does not have."""


def key(resource: Resource) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def load_documents(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def render(directory: Path) -> list[Resource]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise Unsupported(f"{directory}: {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        resources += render(path) if path.is_dir() else load_documents(path)
    by_key = {key(r): r for r in resources}
    if len(by_key) != len(resources):
        raise ValueError(f"{directory}: two resources share a kind and name")
    for patch_entry in kustomization.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise Unsupported(f"{directory}: a patch other than a path: {patch_entry}")
        for patch in load_documents(directory / patch_entry["path"]):
            target = by_key.get(key(patch))
            if target is None:
                raise ValueError(f"{directory}: the patch {key(patch)} has no target")
            native = target["apiVersion"] in NATIVE_GROUPS
            merged = merge(target, patch, native)
            target.clear()
            target.update(merged)
    for image in kustomization.get("images", []):
        for resource in resources:
            for container in containers(resource):
                retag(container, image)
    if "namespace" in kustomization:
        for resource in resources:
            resource["metadata"]["namespace"] = kustomization["namespace"]
    return resources


def merge(base: Any, patch: Any, native: bool, field: str = "") -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for name, value in patch.items():
            merged[name] = merge(base[name], value, native, name) if name in base else value
        return merged
    if native and field in MERGED_BY_NAME and isinstance(base, list) and isinstance(patch, list):
        merged_list = copy.deepcopy(base)
        index = {item["name"]: i for i, item in enumerate(merged_list)}
        for item in patch:
            if item["name"] in index:
                i = index[item["name"]]
                merged_list[i] = merge(merged_list[i], item, native)
            else:
                merged_list.append(item)
        return merged_list
    return copy.deepcopy(patch)


def containers(resource: Resource) -> list[dict[str, Any]]:
    pod = resource.get("spec", {}).get("template", {}).get("spec", {})
    found: list[dict[str, Any]] = [*pod.get("initContainers", []), *pod.get("containers", [])]
    return found


def retag(container: dict[str, Any], image: dict[str, str]) -> None:
    name, _, tag = container["image"].partition(":")
    if name != image["name"]:
        return
    name = image.get("newName", name)
    tag = image.get("newTag", tag)
    container["image"] = f"{name}:{tag}" if tag else name
