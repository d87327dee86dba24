"""What invokeai-py-client 1.1.1 scripts need beyond the core's names, kept in one place.

The modules at 1.1.1's import paths (`ivk_fields`, `dnn_model`, `board`, `quick`,
`models`, `exceptions`, `queue.*`, `workflow.workflow_*`) re-export or adapt. This
package holds the pieces the core's own classes carry for those scripts: mixins with
1.1.1's method names (each a line or two over a core method) and the small adapters
they return. Nothing in the core calls them. docs/migrating-from-1.1.md lists every
place where ours behaves differently on purpose.
"""
