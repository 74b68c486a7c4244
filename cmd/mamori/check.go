package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/mamori-mail/mamori/internal/config"
	"github.com/mamori-mail/mamori/internal/daemon"
	"github.com/mamori-mail/mamori/internal/mailfile"
	"github.com/mamori-mail/mamori/internal/received"
	"github.com/mamori-mail/mamori/rules"
	"github.com/mamori-mail/mamori/rules/check"
	"github.com/mamori-mail/mamori/rules/rulefile"
)

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// CheckResult is one line of `mamori check --json`: a stable contract
// (docs/check.md). Fields are only ever added.
type CheckResult struct {
	File    string         `json:"file"`
	Action  string         `json:"action"`
	Score   float64        `json:"score"`
	Reason  string         `json:"reason"`
	Reply   string         `json:"reply,omitempty"`
	Symbols []check.Symbol `json:"symbols"`
	Error   string         `json:"error,omitempty"`
	// Policy names the recipient-domain policy whose thresholds applied.
	Policy string `json:"policy,omitempty"`
	// Client is the SMTP client read from a Received field (--received-by):
	// "203.0.113.7 (host.example.net) HELO name", or "none found".
	Client string `json:"client,omitempty"`

	thresholds *rules.Thresholds
}

func cmdCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("check", flag.ContinueOnError)
	fset.SetOutput(stderr)
	var o daemon.Options
	commonFlags(fset, &o)
	var (
		asJSON, explain            bool
		clientIP, helo, from, user string
		clientHost                 string
		rcpts, receivedBy          listFlag
	)
	fset.BoolVar(&asJSON, "json", false, "print one JSON object per message (see docs/check.md)")
	fset.BoolVar(&explain, "explain", false, "say why: the thresholds applied, and for each symbol the check or rule (file:line) behind it, the text that matched and the rule's description")
	fset.StringVar(&clientIP, "client-ip", "", "connecting client `address` to assume (default: none, as for a local submission)")
	fset.StringVar(&clientHost, "client-host", "unknown", "client host `name` to assume")
	fset.StringVar(&helo, "helo", "", "HELO/EHLO `name` to assume")
	fset.Var(&receivedBy, "received-by", "your own mail server's host `name` (.example.org: any host in that domain); repeat or comma-separate. The client, its host name, HELO and SMTP AUTH login are read from the newest Received field one of them wrote about another host, as the milter would have been told (instead of --client-ip, --client-host, --helo, --auth-user)")
	fset.StringVar(&from, "from", "", "envelope sender `address` (default: the message's Return-Path, else From)")
	fset.Var(&rcpts, "rcpt", "envelope recipient `address`; repeat or comma-separate (default: To and Cc)")
	fset.StringVar(&user, "auth-user", "", "SASL login to assume, as {auth_authen}")
	fset.Usage = func() {
		fmt.Fprint(stderr, `Usage: mamori check [flags] FILE|DIR|- ...

Judges message files offline through every stage, exactly as the daemon
would for the same envelope, and prints the verdict and each symbol with
its score. Directories are read recursively (Maildir, MH, folders of .eml);
a leading mbox "From " line is skipped; - reads standard input.

Exit status: 0 every message was judged; 1 some file could not be read;
2 bad flags or configuration.

Examples:
  mamori check suspicious.eml
  mamori check --json --client-ip 203.0.113.7 --from a@example.net Maildir/new
  mamori check --received-by mx1.example.org,mx2.example.org delivered.eml
  mamori check --explain --config /etc/mamori/mamori.yaml suspicious.eml

Flags:
`)
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return exitUsage
	}
	if fset.NArg() == 0 {
		fmt.Fprintln(stderr, "mamori check: name at least one FILE, DIR or - (see mamori check -h)")
		return exitUsage
	}
	var ip netip.Addr
	if clientIP != "" {
		var err error
		if ip, err = netip.ParseAddr(clientIP); err != nil {
			fmt.Fprintf(stderr, "mamori check: --client-ip %q is not an IP address\n", clientIP)
			return exitUsage
		}
	}
	if len(receivedBy) > 0 {
		conflict := ""
		fset.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "client-ip", "client-host", "helo", "auth-user":
				conflict = f.Name
			}
		})
		if conflict != "" {
			fmt.Fprintf(stderr, "mamori check: --received-by reads the client from the message; leave out --%s\n", conflict)
			return exitUsage
		}
	}
	cfg, p, ok := loadPipeline(o, stderr)
	if !ok {
		return exitUsage
	}
	defer p.Close()
	f := daemon.NewFilter(p, nil, cfg.Limits.MessageTimeout.D(), nil)
	lim := cfg.Limits.MailLimits()
	env := envelope{ip: ip, host: clientHost, helo: helo, from: from, rcpts: rcpts, user: user, receivedBy: receivedBy}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	failed := false
	emit := func(res CheckResult) {
		if res.Error != "" {
			failed = true
		}
		if asJSON {
			_ = enc.Encode(res)
			return
		}
		if explain {
			printExplained(stdout, res, p)
			return
		}
		printHuman(stdout, res)
	}
	for _, arg := range fset.Args() {
		if arg == "-" {
			emit(judge(f, "-", stdin, env, lim))
			continue
		}
		err := filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				emit(CheckResult{File: path, Error: err.Error()})
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			fh, err := os.Open(path)
			if err != nil {
				emit(CheckResult{File: path, Error: err.Error()})
				return nil
			}
			defer fh.Close()
			emit(judge(f, path, fh, env, lim))
			return nil
		})
		if err != nil {
			emit(CheckResult{File: arg, Error: err.Error()})
		}
	}
	if failed {
		return exitFailure
	}
	return exitOK
}

type envelope struct {
	ip               netip.Addr
	host, helo, from string
	user             string
	rcpts            []string
	// receivedBy lists the site's own hosts: the client is read from the
	// trace fields they wrote.
	receivedBy []string
}

func judge(f *daemon.Filter, name string, r io.Reader, env envelope, lim mailfile.Limits) CheckResult {
	m, err := mailfile.Parse(r, lim)
	if err != nil {
		return CheckResult{File: name, Action: "", Error: err.Error(), Symbols: []check.Symbol{}}
	}
	defer m.Body.(io.Closer).Close()
	m.ClientIP, m.ClientHost, m.Helo, m.AuthUser = env.ip, env.host, env.helo, env.user
	client := ""
	if len(env.receivedBy) > 0 {
		client = "none found"
		if c, ok := received.FromFields(m.Headers, env.receivedBy); ok {
			c.Apply(m)
			client = fmt.Sprintf("%s (%s) HELO %s, received by %s", c.IP, c.Host, cmp.Or(c.Helo, "(none)"), c.By)
			if c.Authenticated {
				client += ", authenticated as " + m.AuthUser
			}
		}
	}
	m.Sender = env.from
	if m.Sender == "" {
		m.Sender = firstAddress(m.HeaderValue("Return-Path"))
		if m.Sender == "" {
			m.Sender = firstAddress(m.HeaderValue("From"))
		}
	}
	m.Recipients = env.rcpts
	if len(m.Recipients) == 0 {
		for _, h := range []string{"To", "Cc"} {
			for _, a := range addresses(m.HeaderValue(h)) {
				m.Recipients = append(m.Recipients, a)
			}
		}
	}
	res := toResult(name, f.CheckMessage(m))
	res.Client = client
	return res
}

func toResult(name string, v rules.Verdict) CheckResult {
	res := CheckResult{File: name, Action: v.Action.String(), Score: v.Score, Reason: v.Reason, Symbols: v.Symbols, Policy: v.Policy}
	if th, ok := v.Thresholds(); ok {
		res.thresholds = &th
	}
	if res.Symbols == nil {
		res.Symbols = []check.Symbol{}
	}
	if !v.Reply.IsZero() {
		res.Reply = v.Reply.String()
	}
	return res
}

func printHuman(w io.Writer, r CheckResult) {
	if r.Error != "" {
		fmt.Fprintf(w, "%s: error: %s\n", r.File, r.Error)
		return
	}
	fmt.Fprintf(w, "%s: %s (score %s)", r.File, r.Action, trimFloat(r.Score))
	if r.Reason != "" {
		fmt.Fprintf(w, " - %s", r.Reason)
	}
	if r.Reply != "" {
		fmt.Fprintf(w, " [%s]", r.Reply)
	}
	fmt.Fprintln(w)
	if r.Client != "" {
		fmt.Fprintf(w, "  client: %s\n", r.Client)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range r.Symbols {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, trimFloat(s.Score), s.Detail)
	}
	tw.Flush()
}

func trimFloat(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", f), "0"), ".")
}

// printExplained prints a verdict with its reasons: the thresholds it was
// judged by, then each symbol with where it came from (a check, or a rule
// file and line), its score, what it saw, and the rule's description.
func printExplained(w io.Writer, r CheckResult, p *rules.Pipeline) {
	printHuman(w, CheckResult{File: r.File, Action: r.Action, Score: r.Score, Reason: r.Reason, Reply: r.Reply, Error: r.Error, Client: r.Client})
	if r.Error != "" {
		return
	}
	if th := r.thresholds; th != nil {
		pol := "global"
		if r.Policy != "" {
			pol = r.Policy
		}
		fmt.Fprintf(w, "  thresholds (%s policy): add_header %s, quarantine %s, reject %s\n", pol, threshold(th.AddHeader), threshold(th.Quarantine), threshold(th.Reject))
	}
	set := config.RuleSet(p)
	metas := map[string]*rules.MetaRule{}
	for _, m := range p.Policy.Meta.Rules() {
		metas[m.Name] = m
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  SYMBOL\tSCORE\tFROM\tWHAT MATCHED\tDESCRIPTION")
	for _, s := range r.Symbols {
		from, desc := s.Check, ""
		if rule := set.Rule(s.Name); rule != nil && s.Check == rulefile.CheckName {
			from, desc = fmt.Sprintf("%s:%d", rule.File, rule.Line), rule.Description
			if m, ok := metas[s.Name]; ok {
				desc += " [" + clipText(strings.Join(strings.Fields(m.Expr), " "), 100) + "]"
			}
			if rule.Score != s.Score {
				// A scores section (the default set's tuned scores, or yours) set it.
				from += " (rule: " + trimFloat(rule.Score) + ")"
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.Name, trimFloat(s.Score), from, s.Detail, desc)
	}
	tw.Flush()
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
