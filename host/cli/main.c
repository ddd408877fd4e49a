// SPDX-License-Identifier: MIT
// The luaflow command line (temporary entry until the subcommands land).
#include <stdio.h>

#include "luaflow.h"

int main(void)
{
  printf("luaflow %s\n", lf_version());
  return 0;
}
