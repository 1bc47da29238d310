/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ifkit's version: the one place it is defined.  Every program prints it
 * for --version; the Makefile reads it from here for the pkg-config file and
 * `make deb` checks that debian/changelog's top entry agrees.
 */
#ifndef IFKIT_VERSION_H
#define IFKIT_VERSION_H

#define IFKIT_VERSION "1.0.0"

/* "PROG (ifkit) 1.0.0", the GNU --version first line. */
#define IFKIT_VERSION_LINE(prog) prog " (ifkit) " IFKIT_VERSION

#endif
