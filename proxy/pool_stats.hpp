// Moved to proxy/pool/pool_stats.hpp; this forwards until every include names the new place.
#pragma once
#include "proxy/pool/pool_stats.hpp"
