#include "lib/config.h"

#include <stdio.h>

int
main(int argc, char **argv)
{
	fprintf(stderr, "usage: quire -c FILE COMMAND ...\n");
	return 64;
}
