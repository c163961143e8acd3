/*
** The command table: one entry point per command file (cmd_<name>.c).
*/
#ifndef QK_COMMANDS_H
#define QK_COMMANDS_H

int cmd_version(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
