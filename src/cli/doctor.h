/* teamnotes doctor: checks a configuration and a running deployment the way the
 * reference's troubleshooting table asks a person to, one line per check with the fix.
 *
 *   teamnotes doctor [--local] [serve options]   this configuration (env, .env, flags,
 *                                                exactly as `serve` reads them), then the
 *                                                deployment it describes (BASE_URL+MCP_PATH)
 *   teamnotes doctor --url https://host/mcp      the outside checks only, against any MCP
 *                                                server (a general MCP auth checker)
 *
 * Output: "✔ what" / "⚠ what — fix: ..." / "✖ what — fix: ..." / "– what" on a terminal;
 * "ok   ", "WARN ", "FAIL ", "skip " and " -- fix: " (ASCII) when stdout is not a
 * terminal or with --plain; one JSON document with --json. Exit status 0 when no check
 * failed (warnings and skips included), 1 when one did, 2 for a usage error. */
#ifndef TN_CLI_DOCTOR_H
#define TN_CLI_DOCTOR_H

/* argv holds what follows "doctor". Returns the process exit status. */
int tn_doctor_main(int argc, char **argv);

#endif
