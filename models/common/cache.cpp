// SPDX-License-Identifier: MIT
// The non-template parts of the cache template (cache.h): policy names and
// the geometry check behind the platform's config validation.
#include "cache.h"

#include <bit>

namespace iommusim::models {

const char *to_string(replacement_policy p) {
  switch (p) {
    case replacement_policy::lru:
      return "lru";
    case replacement_policy::plru:
      return "plru";
    case replacement_policy::round_robin:
      return "round_robin";
    case replacement_policy::random:
      return "random";
  }
  return "?";
}

bool parse_replacement_policy(const std::string &s, replacement_policy *out) {
  replacement_policy p;
  if (s == "lru")
    p = replacement_policy::lru;
  else if (s == "plru")
    p = replacement_policy::plru;
  else if (s == "round_robin" || s == "rr")
    p = replacement_policy::round_robin;
  else if (s == "random")
    p = replacement_policy::random;
  else
    return false;
  if (out) *out = p;
  return true;
}

std::string cache_config::check() const {
  // Large enough for any real structure, small enough that a typo in a
  // config file is an error rather than gigabytes of simulated SRAM.
  constexpr uint32_t max_entries = 1u << 24;
  const std::string who = name.empty() ? std::string("cache") : name;
  if (entries == 0) return who + ": entries must be at least 1";
  if (entries > max_entries)
    return who + ": entries " + std::to_string(entries) + " exceeds the limit of " +
           std::to_string(max_entries);
  if (ways > entries)
    return who + ": ways " + std::to_string(ways) + " exceeds entries " + std::to_string(entries) +
           " (ways 0 or ways = entries means fully associative)";
  if (ways != 0 && entries % ways != 0)
    return who + ": ways " + std::to_string(ways) + " does not divide entries " +
           std::to_string(entries);
  if (!std::has_single_bit(sets()))
    return who + ": " + std::to_string(entries) + " entries / " + std::to_string(ways) +
           " ways = " + std::to_string(sets()) +
           " sets, not a power of two (the set index is a bit field of the hash)";
  if (policy == replacement_policy::plru && !std::has_single_bit(assoc()))
    return who + ": plru needs a power-of-two number of ways per set, not " +
           std::to_string(assoc());
  if (policy == replacement_policy::random && random_seed == 0)
    return who + ": random_seed must be non-zero (an LFSR seeded with 0 stays 0)";
  return {};
}

}  // namespace iommusim::models
