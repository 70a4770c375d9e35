#include "auth/passdb.h"
