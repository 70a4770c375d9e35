#include "auth/password.h"
