#include "lib/config.h"
#include "lib/log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
usage(void)
{
	fprintf(stderr, "usage: quired [-c FILE] [-o section.key=value ...] "
			"[--foreground] [--demo]\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "demo", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct quire_config cfg;
	const char *config_path = NULL;
	const char *overrides[64];
	unsigned override_count = 0;
	char *error;
	int c;

	while ((c = getopt_long(argc, argv, "c:o:Fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'o':
			if (override_count == 64) {
				fprintf(stderr, "quired: too many -o\n");
				return 64;
			}
			overrides[override_count++] = optarg;
			break;
		case 'F':
		case 'D':
			break;
		default:
			usage();
			return 64;
		}
	}
	config_init_defaults(&cfg);
	if (config_load(&cfg, config_path, overrides, override_count,
			&error) < 0) {
		fprintf(stderr, "quired: %s\n", error);
		free(error);
		config_free(&cfg);
		return 78;
	}
	config_free(&cfg);
	return 0;
}
