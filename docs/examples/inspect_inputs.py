"""The seed's "Inspect input indices" snippet, as written (run by tests/integration/test_docs_examples.py)."""

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.workflow import WorkflowDefinition

client = InvokeAIClient.from_url("http://localhost:9090")
# Example: inspect the base workflow's inputs
base = client.workflow_repo.create_workflow(
    WorkflowDefinition.from_file("data/workflows/sdxl_base.json")
)
for inp in base.list_inputs():
    print(f"[{inp.input_index:02d}] {inp.label or inp.field_name} :: {type(inp.field).__name__}")
