package forward

import (
	"fmt"
	"net/netip"
	"syscall"
)

// nonPublic are the special-purpose ranges (IANA IPv4 and IPv6
// Special-Purpose Address Registries) a destination without
// allow_private_network may never be reached at: loopback, private,
// link-local, carrier-grade NAT, unique local, multicast, unspecified,
// documentation, benchmarking, reserved, and the translation prefixes
// that embed an IPv4 address (NAT64, 6to4, Teredo) and could carry a
// private one.
var nonPublic = mustPrefixes(
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
	"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
	"2001::/32", "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// PublicUnicast reports whether ip is a public unicast address. An
// IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as the IPv4
// address it maps.
func PublicUnicast(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.Zone() != "" {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// errRefusedAddress is the dial refusal: the destination resolved to an
// address it may not be reached at.
type errRefusedAddress struct{ addr netip.Addr }

func (e errRefusedAddress) Error() string {
	return fmt.Sprintf("forward: refused to connect to %s: not a public unicast address", e.addr)
}

// controlFor is the net.Dialer Control of a destination: it runs on the
// address about to be dialled, after name resolution, so a name that
// resolves (or re-resolves: DNS rebinding) to a private address is caught
// on the connection itself, not on an earlier lookup.
func controlFor(allowPrivate bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if network != "tcp4" && network != "tcp6" {
			return fmt.Errorf("forward: refused network %q", network)
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("forward: refused address %q", address)
		}
		if allowPrivate {
			return nil
		}
		if !PublicUnicast(ap.Addr()) {
			return errRefusedAddress{ap.Addr()}
		}
		return nil
	}
}
