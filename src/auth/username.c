#include "auth/username.h"
