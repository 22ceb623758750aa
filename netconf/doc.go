// Package netconf will render the network tiers (none, inet, full) as CNI
// conflists from typed plugin structs, checked with libcni. It is pure:
// tier in, JSON out. Until the network tiers land, every sandbox uses the
// host network (the "full" tier) and this package is empty.
package netconf
