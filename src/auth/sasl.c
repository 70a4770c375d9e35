#include "auth/sasl.h"
