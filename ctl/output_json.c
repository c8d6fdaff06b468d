/*
 * output_json — exrollctl --json: the daemon's result, untouched.
 *
 * No field is renamed, added or dropped, so a script sees exactly the
 * protocol of schema/control-protocol.md.
 */
#include "output.h"

void
ctl_json_result(FILE *f, const json_t *result)
{
	json_dumpf(result, f, JSON_INDENT(2) | JSON_ENCODE_ANY);
	fputc('\n', f);
}

void
ctl_json_line(FILE *f, const json_t *j)
{
	json_dumpf(j, f, JSON_COMPACT | JSON_ENCODE_ANY);
	fputc('\n', f);
	fflush(f);
}
