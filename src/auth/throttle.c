#include "auth/throttle.h"
