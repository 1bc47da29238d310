// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ifkit-extcap: Wireshark's door to iptap.  Wireshark and tshark run every
 * program of their extcap directory to list interfaces (`tshark -D` shows
 * "ifkit-pktap"), and run it again with --capture --fifo PATH to capture:
 * this program then runs `ifkit iptap capture -w PATH` (PKTAP records:
 * interface, direction, pid, command) with the capture filter, if any, as a
 * pcap-filter expression that the kernel applies.
 *
 * With no iptap in its namespace it creates one for the capture and destroys
 * it afterwards.  The environment may point it elsewhere: IFKIT_BIN (the
 * ifkit program), IFKIT_SOCK (the loader's socket).
 * Protocol: https://www.wireshark.org/docs/wsdg_html_chunked/ChCaptureExtcap.html
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef IFKIT_BIN_DEFAULT
#define IFKIT_BIN_DEFAULT "/usr/local/sbin/ifkit"
#endif
#define EXTCAP_IFACE "ifkit-pktap"
#define EXIT_USAGE 2

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

/*
 * Run ifkit with args (NULL-terminated after the socket options); its exit
 * status.  Wireshark shows whatever an extcap writes to stderr as an error,
 * so ifkit's stderr goes to err_fd (a temporary file) and is passed on only
 * when it failed.
 */
static int run_ifkit(const char *bin, const char *sock, const char *const *args, bool quiet)
{
	FILE *err_file = tmpfile();
	const char *argv[32];
	int n = 0, status = 0;
	pid_t pid;

	argv[n++] = bin;
	if (sock && sock[0]) {
		argv[n++] = "-s";
		argv[n++] = sock;
	}
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = fork();
	if (pid < 0) {
		if (err_file)
			fclose(err_file);
		return -1;
	}
	if (pid == 0) {
		if (quiet && !freopen("/dev/null", "w", stdout))
			_exit(127);
		if (err_file)
			dup2(fileno(err_file), STDERR_FILENO);
		execv(bin, (char *const *)argv);
		fprintf(stderr, "ifkit-extcap: %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	child_pid = pid;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	child_pid = 0;
	status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (err_file) {
		char line[512];

		if (!quiet && status != 0 && status != 128 + SIGTERM) {
			rewind(err_file);
			while (fgets(line, sizeof(line), err_file))
				fputs(line, stderr);
		}
		fclose(err_file);
	}
	return status;
}

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ifkit-extcap --extcap-interfaces\n"
"       ifkit-extcap --extcap-interface " EXTCAP_IFACE " --extcap-dlts | --extcap-config\n"
"       ifkit-extcap --extcap-interface " EXTCAP_IFACE " --capture --fifo PATH\n"
"                    [--extcap-capture-filter EXPR] [--iptap iptapN]\n"
"Wireshark's extcap program for ifkit's iptap (PKTAP records).  Environment:\n"
"IFKIT_BIN (default " IFKIT_BIN_DEFAULT "), IFKIT_SOCK (loader socket).\n");
}

int main(int argc, char **argv)
{
	enum { O_IFACES = 1, O_IFACE, O_DLTS, O_CONFIG, O_CAPTURE, O_FIFO, O_FILTER, O_IPTAP,
	       O_VERSION, O_HELP, O_IGNORED };
	static const struct option opts[] = {
		{ "extcap-interfaces", no_argument, NULL, O_IFACES },
		{ "extcap-interface", required_argument, NULL, O_IFACE },
		{ "extcap-dlts", no_argument, NULL, O_DLTS },
		{ "extcap-config", no_argument, NULL, O_CONFIG },
		{ "capture", no_argument, NULL, O_CAPTURE },
		{ "fifo", required_argument, NULL, O_FIFO },
		{ "extcap-capture-filter", required_argument, NULL, O_FILTER },
		{ "iptap", required_argument, NULL, O_IPTAP },
		{ "extcap-version", optional_argument, NULL, O_VERSION },
		{ "debug", no_argument, NULL, O_IGNORED },
		{ "debug-file", required_argument, NULL, O_IGNORED },
		{ "extcap-reload-option", required_argument, NULL, O_IGNORED },
		{ "help", no_argument, NULL, O_HELP },
		{ 0 }
	};
	const char *iface = NULL, *fifo = NULL, *filter = NULL, *iptap = NULL;
	const char *bin = getenv("IFKIT_BIN"), *sock = getenv("IFKIT_SOCK");
	bool list = false, dlts = false, config = false, capture = false, created = false;
	struct sigaction sa = { 0 };
	int opt, ret;

	if (!bin || !bin[0])
		bin = IFKIT_BIN_DEFAULT;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case O_IFACES: list = true; break;
		case O_IFACE: iface = optarg; break;
		case O_DLTS: dlts = true; break;
		case O_CONFIG: config = true; break;
		case O_CAPTURE: capture = true; break;
		case O_FIFO: fifo = optarg; break;
		case O_FILTER: filter = optarg; break;
		case O_IPTAP: iptap = optarg; break;
		case O_VERSION: break;
		case O_IGNORED: break;
		case O_HELP: case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (list) {
		printf("extcap {version=1.0}{help=man:ifkit(8)}\n");
		printf("interface {value=" EXTCAP_IFACE "}{display=ifkit iptap: every IP packet "
		       "with interface, direction and process (PKTAP)}\n");
		return 0;
	}
	if (!iface || strcmp(iface, EXTCAP_IFACE)) {
		fprintf(stderr, "ifkit-extcap: no interface '%s' (only " EXTCAP_IFACE ")\n",
			iface ? iface : "");
		return EXIT_USAGE;
	}
	if (dlts) {
		printf("dlt {number=258}{name=PKTAP}{display=Apple PKTAP}\n");
		return 0;
	}
	if (config) {
		printf("arg {number=0}{call=--iptap}{display=iptap}{type=string}"
		       "{tooltip=iptap to listen on (default: the first; one is made if none)}\n");
		return 0;
	}
	if (!capture)
		return 0;	/* a filter check or an option we do not use */
	if (!fifo) {
		fprintf(stderr, "ifkit-extcap: --capture needs --fifo\n");
		return EXIT_USAGE;
	}
	sa.sa_handler = forward;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!iptap) {
		const char *show[] = { "iptap", "show", "iptap0", NULL };
		const char *create[] = { "iptap", "create", NULL };

		/* No iptap here: one for this capture. */
		if (run_ifkit(bin, sock, show, true) != 0) {
			if (run_ifkit(bin, sock, create, true) != 0) {
				fprintf(stderr, "ifkit-extcap: cannot create an iptap (is ifkitd "
					"running? are you root?)\n");
				return 1;
			}
			created = true;
			iptap = "iptap0";
		}
	}
	{
		const char *cap[12];
		int n = 0;

		cap[n++] = "iptap";
		cap[n++] = "capture";
		cap[n++] = "-w";
		cap[n++] = fifo;
		if (iptap) {
			cap[n++] = "-i";
			cap[n++] = iptap;
		}
		if (filter && filter[0])
			cap[n++] = filter;
		cap[n] = NULL;
		ret = run_ifkit(bin, sock, cap, false);
	}
	if (created) {
		const char *destroy[] = { "iptap", "destroy", iptap, NULL };

		run_ifkit(bin, sock, destroy, true);
	}
	/* Stopped by Wireshark (SIGTERM forwarded): a normal end. */
	return ret == 0 || ret == 128 + SIGTERM ? 0 : 1;
}
