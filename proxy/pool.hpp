// Moved to proxy/pool/pool.hpp; this forwards until every include names the new place.
#pragma once
#include "proxy/pool/pool.hpp"
