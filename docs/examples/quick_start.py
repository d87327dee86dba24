"""The seed's "Quick Start" snippet, as written (run by tests/integration/test_docs_examples.py)."""

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.workflow import WorkflowDefinition

# 1) Initialize client (URL helper parses host/port/base_path)
client = InvokeAIClient.from_url("http://localhost:9090")
# 2) Load a multi-stage workflow (single JSON that encapsulates refine stages)
wf = client.workflow_repo.create_workflow(
    WorkflowDefinition.from_file("data/workflows/sdxl_with_refiner.json")
)
# 3) Normalize model identifier fields against server inventory
wf.sync_dnn_model(by_name=True, by_base=True)
# 4) Set inputs by index (indices discovered via list_inputs(); adjust to your Form)
wf.get_input_value(0).value = "Epic landscape with mountains and lakes, highly detailed"
wf.get_input_value(1).value = "blurry, low quality"
wf.get_input_value(2).value = 42  # Seed
wf.get_input_value(3).value = 30  # Base steps
wf.get_input_value(4).value = 15  # Refiner steps
wf.get_input_value(5).value = 0.8  # Switch point / handoff (if applicable)
# Optionally set a Board field if exposed:
# wf.get_input_value(BOARD_INDEX).value = "none" # uncategorized
# 5) Submit and wait (blocking)
wf.submit_sync()
result = wf.wait_for_completion_sync(timeout=240)
print("Final status:", result.get("status"))
# 6) Map outputs (node -> image filenames)
for m in wf.map_outputs_to_images(result):
    print(f"node={m['node_id'][:8]} board={m.get('board_id')} images={m.get('image_names', [])}")
