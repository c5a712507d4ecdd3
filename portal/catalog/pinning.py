"""Pinning the catalog's images: each template's release tag resolved to its digest and written into the file."""
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from portal.catalog.registry import Registry, RegistryError
from portal.catalog.templates import ServiceTemplate, TemplateError, image_parts, template_load


@dataclass(frozen=True)
class ImagePin:
    file: str
    component: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


class PinFailed(Exception):
    """Nothing was written: a template was broken or the registry gave no digest."""


def _image_line(image: str) -> re.Pattern:
    # The `image:` line as written in the file (plain or quoted), so comments and layout survive the edit.
    return re.compile(r"^(?P<lead>\s*(?:-\s+)?image:\s*)(?P<quote>[\"']?)" + re.escape(image)
                      + r"(?P=quote)(?P<tail>\s*(?:#.*)?)$", re.MULTILINE)


def _check_rewritten(path: Path, text: str, pins: list[ImagePin]) -> None:
    try:
        template = ServiceTemplate.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as error:
        raise PinFailed(f"{path.name}: the rewritten file would not load: {error}") from error
    images = {c.name: c.image for c in template.components}
    for pin in pins:
        if images.get(pin.component) != pin.after:
            raise PinFailed(f"{path.name}: component {pin.component}: rewriting left {images.get(pin.component)!r}")


def catalog_pin(*, directory: str, registry: Registry, write: bool = True) -> list[ImagePin]:
    """Resolve every image of every template to `name:tag@sha256:...`; all files are written, or none.

    A digest already in the file is resolved again from its tag: after a tag bump the old digest is replaced.
    """
    folder = Path(directory)
    plans: list[tuple[Path, str, list[ImagePin]]] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            template = template_load(path)
        except TemplateError as error:
            raise PinFailed(str(error)) from error
        pins = []
        for component in template.components:
            name, tag, _ = image_parts(component.image)
            try:
                digest = registry.digest(name, tag)
            except RegistryError as error:
                raise PinFailed(f"{path.name}: component {component.name}: {error}") from error
            pins.append(ImagePin(path.name, component.name, component.image, f"{name}:{tag}@{digest}"))
        plans.append((path, path.read_text(), pins))
    rewritten = []
    for path, text, pins in plans:
        new_text = text
        for pin in pins:
            if not pin.changed or pin.before in {p.before for p in pins[:pins.index(pin)]}:
                continue  # unchanged, or the same image as an earlier component (rewritten with it)
            new_text, count = _image_line(pin.before).subn(
                lambda match, after=pin.after: f"{match['lead']}{match['quote']}{after}{match['quote']}{match['tail']}",
                new_text)
            if count == 0:
                raise PinFailed(f"{path.name}: component {pin.component}: no `image: {pin.before}` line to rewrite "
                                f"(written in a form this command does not edit)")
        _check_rewritten(path, new_text, pins)
        rewritten.append((path, text, new_text))
    if write:
        for path, text, new_text in rewritten:
            if new_text != text:
                path.write_text(new_text)
    return [pin for _, _, pins in plans for pin in pins]
