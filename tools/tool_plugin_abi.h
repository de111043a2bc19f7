/* The C ABI of r1 tool plugins, version 1 (the conventions of rewards/plugin_abi.h). A plugin is a
 * shared library exporting these four functions; r1 loads it by path from the tool's entry
 * ({"kind": "plugin", "name": "calc", "path": "...", "config": {...}, "parameters": {...}}) and refuses
 * it, naming the symbol, when one is missing or the version differs.
 *
 * By default the plugin runs in r1-plugin-host, a process of its own (r1-plugin-host --tool PATH
 * CONFIG_JSON): a crash or a hang costs that call (an error message to the model) and a restart. With
 * "in_process": true it runs in r1's process, where r1_tool_v1_call may be called from several threads
 * at once on the same state (a plugin that is not thread-safe must lock inside) and a crash ends the run.
 * Strings are UTF-8, NUL-terminated and valid during the call only.
 */
#ifndef R1_TOOLS_TOOL_PLUGIN_ABI_H
#define R1_TOOLS_TOOL_PLUGIN_ABI_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define R1_TOOL_ABI_VERSION 1

/* Returns R1_TOOL_ABI_VERSION. */
int r1_tool_v1_abi_version(void);

/* Creates the plugin's state from its "config" (a JSON text); NULL with a message in `error` (at most
 * error_size bytes, NUL-terminated) on failure. */
void* r1_tool_v1_create(const char* config_json, char* error, size_t error_size);

/* Runs one call of the tool called `name` (the tool's name in the config) with its arguments (a JSON
 * object that passed the tool's "parameters" schema) for the trajectory `trajectory` (an id unique to
 * it, for tools that keep per-trajectory state).
 *
 * Writes the tool message's content into `out` as snprintf does: at most out_size - 1 bytes and a NUL,
 * and returns the content's whole length in bytes (a return >= out_size says it was cut; r1 then shows
 * the model what fits and marks the call failed). Sets *is_error to 1 when the call failed (the content
 * then says why; the model sees it as an error). A negative return is a failure with no content. */
long long r1_tool_v1_call(void* state, const char* name, const char* arguments_json, const char* trajectory, char* out,
                          size_t out_size, int* is_error);

void r1_tool_v1_destroy(void* state);

#ifdef __cplusplus
}
#endif

#endif
