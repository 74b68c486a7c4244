package uribl

import (
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Found is one host referenced by a message.
type Found struct {
	// Host is the host name in lower-case ASCII; Unicode names are in their
	// IDNA xn-- form. It is "" when the reference is an IP address.
	Host string
	// IP is valid when the reference is an IP literal.
	IP netip.Addr
	// Domain is the registered domain of Host (its eTLD+1 by the Public
	// Suffix List, private suffixes included). It is "" for IP addresses,
	// and when Host is itself a public suffix or has no dot.
	Domain string
	// Source says where the reference was found: one of the Source
	// constants.
	Source string
}

// The values of Found.Source.
const (
	SourceHref   = "href"   // href of a link, or a meta refresh
	SourceSrc    = "src"    // a resource the client loads: src, background, CSS url()
	SourceForm   = "form"   // form action
	SourceText   = "text"   // a URL with a scheme, or starting with www., in text
	SourceBare   = "bare"   // a bare domain in text, such as example.com
	SourceMailto = "mailto" // the domain of a mailto: link
	SourceEmail  = "email"  // the domain of an address in text
)

// DefaultMaxHosts is the result limit when Options.MaxHosts is 0.
const DefaultMaxHosts = 100

// Options tunes Extract.
type Options struct {
	// MaxHosts stops extraction after this many distinct results;
	// 0 (or less) means DefaultMaxHosts.
	MaxHosts int
	// HTML says that the input is HTML rather than plain text.
	HTML bool
}

// Extract returns the hosts that input, the decoded text of one message
// part, refers to: distinct by host name or IP address, in order of first
// appearance, at most o.MaxHosts of them. It is safe for concurrent use.
func Extract(input []byte, o Options) []Found {
	max := o.MaxHosts
	if max <= 0 {
		max = DefaultMaxHosts
	}
	s := &scanner{max: max, seen: make(map[string]bool)}
	if o.HTML {
		s.scanHTML(input, false)
		s.flushText()
	} else {
		s.scanText(string(input), modeFull, SourceText)
	}
	return s.out
}

// scanner holds the state of one Extract call: the results so far, and
// scratch buffers reused from word to word.
type scanner struct {
	max  int
	seen map[string]bool // hosts and IP addresses in out
	out  []Found

	// Scratch space for clean and joinDots.
	visible, nfkc, defanged, joined []byte
	// text is visible HTML text not yet scanned (see scanHTML).
	text []byte
}

func (s *scanner) full() bool { return len(s.out) >= s.max }

// addHost records a host name that canonHost accepted.
func (s *scanner) addHost(host, source string) {
	if s.full() {
		return
	}
	if s.seen[host] {
		return
	}
	// The name may point into a large input or a scratch buffer; a copy
	// keeps neither alive nor lets it change.
	host = strings.Clone(host)
	s.seen[host] = true
	domain, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		domain = ""
	}
	s.out = append(s.out, Found{Host: host, Domain: domain, Source: source})
}

// addIP records an IP literal.
func (s *scanner) addIP(ip netip.Addr, source string) {
	if s.full() {
		return
	}
	key := ip.String() // never equal to a host name: canonHost turns numeric names into addresses
	if s.seen[key] {
		return
	}
	s.seen[key] = true
	s.out = append(s.out, Found{IP: ip, Source: source})
}

// add records the result of canonHost or textHost.
func (s *scanner) add(host string, ip netip.Addr, source string) {
	if ip.IsValid() {
		s.addIP(ip, source)
	} else {
		s.addHost(host, source)
	}
}
