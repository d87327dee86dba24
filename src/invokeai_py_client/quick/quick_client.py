"""1.1.1's `QuickClient`: one-call tasks, run with the bundled workflows.

    >>> qc = QuickClient(client)                                            # doctest: +SKIP
    >>> image = qc.generate_image_sdxl_t2i("a lighthouse", "", 1024, 1024)   # doctest: +SKIP
    >>> copy = qc.copy_image_to_board(image.image_name, board_id)            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import random

from .._exceptions import JobCanceledError, ValidationError
from ..client import InvokeAIClient
from ..images import ImageDTO
from ..workflow.definition import WorkflowDefinition
from ..workflows import bundled_workflow_path

__all__ = ["InvokeAIClient", "QuickClient", "WorkflowDefinition"]

log = logging.getLogger("invokeai_py_client.quick")

TIMEOUT = 240.0
"""Seconds a quick generation may take (as in 1.1.1)."""


class QuickClient:
    """Common one-call tasks on a client (sync)."""

    def __init__(self, client: InvokeAIClient) -> None:
        self.client = client

    def generate_image_sdxl_t2i(
        self,
        positive_prompt: str,
        negative_prompt: str,
        width: int,
        height: int,
        steps: int | None = None,
        model_name: str | None = None,
        scheduler: str | None = None,
        board_id: str | None = None,
    ) -> ImageDTO | None:
        """Text to image with an installed SDXL model; the image record (None if canceled).

        Sizes are rounded down to multiples of 8; `model_name` picks the first SDXL
        main model whose name contains it (any SDXL main model when None).
        """
        models = [m for m in self.client.dnn_model_repo.list_models(base="sdxl", type="main")
                  if model_name is None or model_name.lower() in m.name.lower()]
        if not models:
            wanted = f" matching {model_name!r}" if model_name else ""
            raise ValidationError(f"no installed SDXL main model{wanted}")
        wf = self.client.workflow_repo.create_workflow(WorkflowDefinition.from_file(bundled_workflow_path("sdxl_base.json")))
        values: dict[str, object] = {
            "Positive prompt": positive_prompt, "Negative prompt": negative_prompt,
            "Width": max(8, width // 8 * 8), "Height": max(8, height // 8 * 8),
            "Seed": random.randrange(2**32), "Model": models[0].key, "Output board": board_id or "none",
        }
        if steps is not None:
            values["Steps"] = steps
        if scheduler is not None:
            values["Scheduler"] = scheduler
        for label, value in values.items():
            wf.get_input_value(label).value = value
        try:
            item = wf.submit_sync().wait(timeout=TIMEOUT)
        except JobCanceledError:
            log.info("quick generation canceled")
            return None
        name = wf.map_outputs_to_images(item)[0]["image_names"][0]
        return self.client.image_repo.get_image(name)

    def copy_image_to_board(self, image_name: str, target_board_id: str) -> ImageDTO:
        """A copy of the image (with its embedded metadata) on another board ("none": uncategorized)."""
        data = self.client.image_repo.download_image(image_name, full_resolution=True)
        board = self.client.board_repo.get_board_handle(target_board_id)
        return board.upload_image(data, filename=image_name)
