package filetype

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
	"strings"

	"github.com/bodgit/sevenzip"
	"github.com/ulikunitz/xz/lzma"
)

// sevenZip walks a 7z archive with github.com/bodgit/sevenzip after
// checking its header with check7z below.
//
// Why the check: sevenzip sizes slices from counts in the header
// (make([]FileHeader, files), make([]uint32, count) for CRCs, times and
// attributes, up to 2^32 each) and its LZMA2 and PPMd decoders allocate the
// dictionary the archive asks for (up to 4 GiB) before reading a byte.
// Go cannot recover from a failed allocation of that size ("fatal error:
// runtime: out of memory"), so a 100-byte attachment could stop the
// daemon. check7z reads the same structure first, with every count bound
// by the entry cap and every dictionary by MaxDictionary, and finds the
// encrypted folders, which are then never opened (the AES key derivation
// would run without a password for nothing).
func (s *Scan) sevenZip(ctx context.Context, n node, r io.ReaderAt, size int64) (err error) {
	defer recoverParser(&err)
	info, err := check7z(r, size, s.opts.MaxEntries-s.entries, s.opts.MaxDictionary)
	if errors.Is(err, errTooManyFiles) {
		s.over = fmt.Sprintf("more than %d archive entries in the message", s.opts.MaxEntries)
		return &bombError{path: n.path, reason: s.over}
	}
	if err != nil {
		return err
	}
	if info.headerEncrypted {
		s.add(RuleEncrypted, n.path, "encrypted headers (member names hidden)")
		return nil
	}
	if info.empty {
		return nil
	}
	zr, err := sevenzip.NewReader(r, size)
	if err != nil {
		return err
	}
	unpacked := make([]int64, len(info.folders))
	var (
		encrypted []string
		broken    error
	)
	for _, f := range zr.File {
		if err := s.next(ctx, n.path); err != nil {
			return err
		}
		if strings.HasSuffix(f.Name, "/") || f.FileInfo().IsDir() {
			continue
		}
		child := n.child(f.Name)
		if f.UncompressedSize == 0 {
			s.names(child)
			continue
		}
		if f.Stream < 0 || f.Stream >= len(info.folders) {
			return fmt.Errorf("7z: %s in folder %d of %d", child.path, f.Stream, len(info.folders))
		}
		fo := info.folders[f.Stream]
		switch {
		case fo.encrypted:
			s.sealed(child, &encrypted)
			continue
		case fo.problem != "":
			s.names(child)
			if broken == nil {
				broken = fmt.Errorf("%s: %s", child.path, fo.problem)
			}
			continue
		}
		usize := int64(min(f.UncompressedSize, uint64(math.MaxInt64)))
		if err := s.declared(child.path, usize, fo.packed); err != nil {
			return err
		}
		rc, err := f.Open()
		if err != nil {
			s.names(child)
			if broken == nil {
				broken = fmt.Errorf("%s: %w", child.path, err)
			}
			continue
		}
		m := s.meter(ctx, rc, child.path, fo.packed)
		m.shared = &unpacked[f.Stream]
		err = s.stream(ctx, child, m)
		rc.Close()
		if err != nil {
			if s.stops(ctx, err) {
				return err
			}
			if broken == nil {
				broken = fmt.Errorf("%s: %w", child.path, err)
			}
		}
	}
	if len(encrypted) > 0 {
		s.add(RuleEncrypted, n.path, encryptedDetail(encrypted))
	}
	return broken
}

// The property ids of the 7z header (7-Zip's DOC/7zFormat.txt).
const (
	szEnd              = 0x00
	szHeader           = 0x01
	szArchiveProps     = 0x02
	szAdditional       = 0x03
	szMainStreams      = 0x04
	szFilesInfo        = 0x05
	szPackInfo         = 0x06
	szUnpackInfo       = 0x07
	szSubStreams       = 0x08
	szSize             = 0x09
	szCRC              = 0x0a
	szFolderID         = 0x0b
	szCodersUnpackSize = 0x0c
	szNumUnpackStream  = 0x0d
	szEmptyStream      = 0x0e
	szEmptyFile        = 0x0f
	szName             = 0x11
	szCTime            = 0x12
	szATime            = 0x13
	szMTime            = 0x14
	szWinAttributes    = 0x15
	szEncodedHeader    = 0x17
	szDummy            = 0x19
)

// Limits of check7z beyond the caller's.
const (
	szMaxHeader = 16 << 20 // a header for 100000 files is a few MiB
	szMaxCoders = 32       // per folder, and streams per coder
)

var (
	errTooManyFiles = errors.New("7z: more files than the entry cap")
	err7zFormat     = errors.New("7z: malformed header")
)

// szInfo is what check7z learnt.
type szInfo struct {
	headerEncrypted bool
	empty           bool
	folders         []szFolderInfo
}

type szFolderInfo struct {
	encrypted bool
	problem   string // why the folder cannot be decoded safely
	packed    int64  // its compressed size
}

// szCoder and szFolder are the parts of the header check7z keeps.
type szCoder struct {
	id      []byte
	in, out uint64
	props   []byte
}

type szFolder struct {
	coders        []szCoder
	packedStreams uint64
	unpackSizes   []uint64
}

type szStreams struct {
	packPos   uint64
	packSizes []uint64
	folders   []szFolder
	// substreams is the number of files in each folder (nil: one each).
	substreams []uint64
}

// check7z reads a 7z archive's headers (7zFormat.txt) the way sevenzip
// does, bounding what sevenzip would allocate. maxFiles is the number of
// entries the scan may still look at; maxDict bounds decoder memory.
func check7z(r io.ReaderAt, size int64, maxFiles int, maxDict int64) (*szInfo, error) {
	var sh [32]byte
	if _, err := r.ReadAt(sh[:], 0); err != nil {
		return nil, fmt.Errorf("7z: signature header: %w", err)
	}
	if !bytes.HasPrefix(sh[:], []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c}) {
		return nil, err7zFormat
	}
	if crc32.ChecksumIEEE(sh[12:32]) != binary.LittleEndian.Uint32(sh[8:]) {
		return nil, errors.New("7z: start header checksum error")
	}
	nextOff := binary.LittleEndian.Uint64(sh[12:])
	nextSize := binary.LittleEndian.Uint64(sh[20:])
	if nextSize == 0 {
		return &szInfo{empty: true}, nil
	}
	if nextSize > szMaxHeader || nextOff > uint64(size) || nextSize > uint64(size)-32 || 32+nextOff > uint64(size)-nextSize {
		return nil, fmt.Errorf("7z: header of %d bytes at %d does not fit", nextSize, nextOff)
	}
	hdr := make([]byte, nextSize)
	if _, err := r.ReadAt(hdr, int64(32+nextOff)); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if crc32.ChecksumIEEE(hdr) != binary.LittleEndian.Uint32(sh[28:]) {
		return nil, errors.New("7z: header checksum error")
	}
	maxCount := uint64(max(maxFiles, 0))*4 + 64
	p := &szParser{b: hdr, maxCount: maxCount}
	id := p.byte()
	if id == szEncodedHeader {
		st := p.streams()
		if p.err != nil {
			return nil, p.err
		}
		if len(st.folders) != 1 || len(st.packSizes) < 1 {
			return nil, err7zFormat
		}
		f := st.folders[0]
		for _, c := range f.coders {
			if isAES(c.id) {
				return &szInfo{headerEncrypted: true}, nil
			}
		}
		dec, err := decode7zHeader(r, size, st, maxDict)
		if err != nil {
			return nil, err
		}
		p = &szParser{b: dec, maxCount: maxCount}
		id = p.byte()
	}
	if id != szHeader {
		return nil, err7zFormat
	}
	info, err := p.header(uint64(max(maxFiles, 0)), maxDict)
	if err != nil {
		return nil, err
	}
	return info, nil
}

func isAES(id []byte) bool { return bytes.Equal(id, []byte{0x06, 0xf1, 0x07, 0x01}) }

// decode7zHeader decodes an encoded header: one folder with one LZMA or
// LZMA2 coder, which is what 7-Zip writes.
func decode7zHeader(r io.ReaderAt, size int64, st szStreams, maxDict int64) ([]byte, error) {
	f := st.folders[0]
	if len(f.coders) != 1 || len(f.unpackSizes) != 1 {
		return nil, errors.New("7z: header coding not supported")
	}
	c := f.coders[0]
	usize := f.unpackSizes[0]
	psize := st.packSizes[0]
	if usize == 0 || usize > szMaxHeader || st.packPos > uint64(size) || psize > uint64(size) || 32+st.packPos > uint64(size)-psize {
		return nil, fmt.Errorf("7z: encoded header of %d bytes does not fit", usize)
	}
	packed := io.NewSectionReader(r, int64(32+st.packPos), int64(psize))
	var rd io.Reader
	switch {
	case bytes.Equal(c.id, []byte{0x03, 0x01, 0x01}) && len(c.props) == 5:
		var h [13]byte
		copy(h[:], c.props)
		binary.LittleEndian.PutUint64(h[5:], usize)
		lr, err := lzma.NewReader(io.MultiReader(bytes.NewReader(h[:]), packed))
		if err != nil {
			return nil, fmt.Errorf("7z: header: %w", err)
		}
		rd = lr
	case bytes.Equal(c.id, []byte{0x21}) && len(c.props) == 1:
		dict, ok := lzma2Dict(c.props[0])
		if !ok || dict > maxDict {
			return nil, errors.New("7z: header dictionary too large")
		}
		// The header is no longer than usize: no reference reaches back
		// further, so that much dictionary is enough.
		lr, err := lzma.Reader2Config{DictCap: int(max(min(dict, int64(usize)), lzma.MinDictCap))}.NewReader2(packed)
		if err != nil {
			return nil, fmt.Errorf("7z: header: %w", err)
		}
		rd = lr
	case bytes.Equal(c.id, []byte{0x00}):
		rd = packed
	default:
		return nil, errors.New("7z: header coding not supported")
	}
	out := make([]byte, usize)
	if _, err := io.ReadFull(rd, out); err != nil {
		return nil, fmt.Errorf("7z: header: %w", err)
	}
	return out, nil
}

// lzma2Dict is the dictionary size an LZMA2 property byte asks for
// (Lzma2Dec.c).
func lzma2Dict(p byte) (int64, bool) {
	if p > 40 {
		return 0, false
	}
	if p == 40 {
		return math.MaxUint32, true
	}
	return int64(2|(p&1)) << (p/2 + 11), true
}

// szParser reads header bytes; the first error sticks and every later
// read returns zero.
type szParser struct {
	b        []byte
	err      error
	maxCount uint64
}

func (p *szParser) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

func (p *szParser) byte() byte {
	if p.err != nil {
		return 0
	}
	if len(p.b) == 0 {
		p.fail(fmt.Errorf("%w: truncated", err7zFormat))
		return 0
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
}

func (p *szParser) bytes(n uint64) []byte {
	if p.err != nil {
		return nil
	}
	if n > uint64(len(p.b)) {
		p.fail(fmt.Errorf("%w: truncated", err7zFormat))
		return nil
	}
	out := p.b[:n]
	p.b = p.b[n:]
	return out
}

// number reads 7z's variable-length UINT64, as sevenzip's readUint64.
func (p *szParser) number() uint64 {
	b := p.byte()
	l := bits.LeadingZeros8(^b)
	var v uint64
	if l < 7 {
		v |= uint64(b&((1<<(8-l))-1)) << (8 * l)
	}
	for i := range l {
		v |= uint64(p.byte()) << (8 * i)
	}
	return v
}

// count reads a number used as a count and bounds it.
func (p *szParser) count(nonZero bool) uint64 {
	v := p.number()
	if nonZero && v == 0 && p.err == nil {
		p.fail(fmt.Errorf("%w: zero count", err7zFormat))
	}
	if v > p.maxCount {
		p.fail(fmt.Errorf("%w: count %d too large", err7zFormat, v))
		return 0
	}
	return v
}

// bitSet reads a bit vector of n bits and returns how many are set.
func (p *szParser) bitSet(n uint64) uint64 {
	raw := p.bytes((n + 7) / 8)
	var set uint64
	for i := range n {
		if i/8 < uint64(len(raw)) && raw[i/8]&(0x80>>(i%8)) != 0 {
			set++
		}
	}
	return set
}

// defined reads an "all defined" byte and, if it is 0, a bit vector.
func (p *szParser) defined(n uint64) uint64 {
	if p.byte() == 0 {
		return p.bitSet(n)
	}
	return n
}

func (p *szParser) crcs(n uint64) {
	p.bytes(4 * p.defined(n))
}

// endAfterCRCs reads what ends a pack, unpack or substreams record: an
// optional list of n CRCs, then the end id.
func (p *szParser) endAfterCRCs(id byte, n uint64, what string) {
	if id == szCRC {
		p.crcs(n)
		id = p.byte()
	}
	if id != szEnd {
		p.fail(fmt.Errorf("%w: %s", err7zFormat, what))
	}
}

func (p *szParser) streams() szStreams {
	var st szStreams
	id := p.byte()
	if id == szPackInfo {
		st.packPos = p.number()
		n := p.count(true)
		id = p.byte()
		if id == szSize {
			st.packSizes = make([]uint64, n)
			for i := range st.packSizes {
				st.packSizes[i] = p.number()
			}
			id = p.byte()
		}
		p.endAfterCRCs(id, n, "pack info")
		id = p.byte()
	}
	if id == szUnpackInfo {
		st.folders = p.unpackInfo()
		id = p.byte()
	}
	if id == szSubStreams {
		if st.folders == nil {
			p.fail(fmt.Errorf("%w: substreams without folders", err7zFormat))
		}
		st.substreams = p.subStreams(len(st.folders))
		id = p.byte()
	}
	if id != szEnd {
		p.fail(fmt.Errorf("%w: streams info", err7zFormat))
	}
	return st
}

func (p *szParser) unpackInfo() []szFolder {
	if p.byte() != szFolderID {
		p.fail(fmt.Errorf("%w: unpack info", err7zFormat))
		return nil
	}
	n := p.count(true)
	if p.byte() != 0 {
		p.fail(errors.New("7z: external folders not supported"))
		return nil
	}
	folders := make([]szFolder, 0, n)
	for range n {
		if p.err != nil {
			return nil
		}
		folders = append(folders, p.folder())
	}
	if p.byte() != szCodersUnpackSize {
		p.fail(fmt.Errorf("%w: unpack sizes", err7zFormat))
		return nil
	}
	for i := range folders {
		var outs uint64
		for _, c := range folders[i].coders {
			outs += c.out
		}
		folders[i].unpackSizes = make([]uint64, outs)
		for j := range folders[i].unpackSizes {
			folders[i].unpackSizes[j] = p.number()
		}
	}
	p.endAfterCRCs(p.byte(), n, "unpack info end")
	return folders
}

func (p *szParser) folder() szFolder {
	var f szFolder
	n := p.count(true)
	if n > szMaxCoders {
		p.fail(fmt.Errorf("%w: %d coders", err7zFormat, n))
		return f
	}
	var ins, outs uint64
	for range n {
		flags := p.byte()
		c := szCoder{id: p.bytes(uint64(flags & 0x0f)), in: 1, out: 1}
		if flags&0x10 != 0 {
			c.in, c.out = p.count(true), p.count(true)
			if c.in > szMaxCoders || c.out > szMaxCoders {
				p.fail(fmt.Errorf("%w: coder streams", err7zFormat))
				return f
			}
		}
		if flags&0x20 != 0 {
			c.props = p.bytes(p.count(true))
		}
		ins += c.in
		outs += c.out
		f.coders = append(f.coders, c)
	}
	if p.err != nil {
		return f
	}
	if ins < outs {
		p.fail(fmt.Errorf("%w: bind pairs", err7zFormat))
		return f
	}
	bound := make(map[uint64]bool)
	for range outs - 1 {
		in, out := p.number(), p.number()
		if in >= ins || out >= outs {
			p.fail(fmt.Errorf("%w: bind pair out of range", err7zFormat))
			return f
		}
		bound[in] = true
	}
	f.packedStreams = ins - (outs - 1)
	if f.packedStreams > 1 {
		for range f.packedStreams {
			if p.number() >= ins {
				p.fail(fmt.Errorf("%w: packed stream out of range", err7zFormat))
				return f
			}
		}
	} else if len(bound) == int(ins) {
		p.fail(fmt.Errorf("%w: no packed stream", err7zFormat))
	}
	return f
}

func (p *szParser) subStreams(folders int) []uint64 {
	streams := make([]uint64, folders)
	for i := range streams {
		streams[i] = 1
	}
	id := p.byte()
	if id == szNumUnpackStream {
		for i := range streams {
			streams[i] = p.number()
		}
		id = p.byte()
	}
	var files uint64
	for _, v := range streams {
		files += v
		if v > p.maxCount || files > p.maxCount {
			p.fail(fmt.Errorf("%w: %d substreams", err7zFormat, files))
			return nil
		}
	}
	hasSizes := false
	if id == szSize {
		hasSizes = true
		for _, v := range streams {
			for j := uint64(1); j < v; j++ {
				p.number()
			}
		}
		id = p.byte()
	}
	if !hasSizes {
		for _, v := range streams {
			if v > 1 {
				p.fail(fmt.Errorf("%w: substream sizes missing", err7zFormat))
			}
		}
	}
	p.endAfterCRCs(id, files, "substreams end")
	return streams
}

// header reads the plain header and returns the folders' facts.
func (p *szParser) header(maxFiles uint64, maxDict int64) (*szInfo, error) {
	id := p.byte()
	if id == szArchiveProps || id == szAdditional {
		return nil, errors.New("7z: archive properties not supported")
	}
	var st szStreams
	if id == szMainStreams {
		st = p.streams()
		id = p.byte()
	}
	var files, empty uint64
	if id == szFilesInfo {
		files = p.number()
		if files > maxFiles && p.err == nil {
			return nil, errTooManyFiles
		}
		if files == 0 {
			p.fail(fmt.Errorf("%w: no files", err7zFormat))
		}
		var emptyStreams uint64
		for p.err == nil {
			prop := p.byte()
			if prop == szEnd {
				break
			}
			length := p.number()
			switch prop {
			case szEmptyStream:
				emptyStreams = p.bitSet(files)
				empty = emptyStreams
			case szEmptyFile:
				p.bitSet(emptyStreams)
			case szCTime, szATime, szMTime:
				d := p.defined(files)
				if p.byte() != 0 {
					p.fail(errors.New("7z: external times not supported"))
				}
				p.bytes(8 * d)
			case szName:
				if length < 1 {
					p.fail(fmt.Errorf("%w: names", err7zFormat))
				}
				p.bytes(length)
			case szWinAttributes:
				d := p.defined(files)
				if p.byte() != 0 {
					p.fail(errors.New("7z: external attributes not supported"))
				}
				p.bytes(4 * d)
			case szDummy:
				p.bytes(length)
			default:
				p.fail(fmt.Errorf("%w: file property %#x", err7zFormat, prop))
			}
		}
		id = p.byte()
	}
	if id != szEnd {
		p.fail(fmt.Errorf("%w: header end", err7zFormat))
	}
	if p.err != nil {
		return nil, p.err
	}
	// sevenzip maps files with content to substreams by index: there
	// must be as many as it will look up.
	withData := files - empty
	var streams uint64
	if st.substreams != nil {
		for _, v := range st.substreams {
			streams += v
		}
	} else {
		streams = uint64(len(st.folders))
	}
	if withData > 0 && (streams < withData || st.packSizes == nil) {
		return nil, fmt.Errorf("%w: %d files with data, %d streams", err7zFormat, withData, streams)
	}
	if withData > 0 && st.substreams == nil && len(st.folders) != 1 && withData > 1 {
		return nil, fmt.Errorf("%w: no substreams info", err7zFormat)
	}
	info := &szInfo{empty: withData == 0}
	next := 0
	for _, f := range st.folders {
		fi := szFolderInfo{}
		if next+int(f.packedStreams) > len(st.packSizes) {
			return nil, fmt.Errorf("%w: folders use more pack streams than there are", err7zFormat)
		}
		for _, ps := range st.packSizes[next : next+int(f.packedStreams)] {
			fi.packed += int64(min(ps, math.MaxInt64/2))
		}
		next += int(f.packedStreams)
		for i, c := range f.coders {
			if problem, enc := szCoderCheck(c, f.unpackSizes, i, maxDict); enc {
				fi.encrypted = true
			} else if problem != "" && fi.problem == "" {
				fi.problem = problem
			}
		}
		info.folders = append(info.folders, fi)
	}
	return info, nil
}

// szCoderCheck judges one coder: the methods sevenzip decodes in bounded
// memory pass, AES marks encryption, anything else is a problem.
func szCoderCheck(c szCoder, unpackSizes []uint64, i int, maxDict int64) (problem string, encrypted bool) {
	id := string(c.id)
	switch id {
	case "\x06\xf1\x07\x01":
		return "", true
	case "\x00", "\x03", "\x03\x03\x01\x03", "\x03\x03\x01\x1b", "\x03\x03\x02\x05", "\x03\x03\x05\x01",
		"\x03\x03\x08\x05", "\x0a", "\x04\x01\x08", "\x04\x02\x02":
		return "", false // copy, delta, branch filters, deflate, bzip2
	case "\x03\x01\x01": // LZMA: the dictionary is capped by the output size
		if len(c.props) != 5 {
			return "bad LZMA properties", false
		}
		dict := uint64(binary.LittleEndian.Uint32(c.props[1:]))
		if i < len(unpackSizes) {
			dict = min(dict, unpackSizes[i])
		}
		if dict > uint64(maxDict) {
			return fmt.Sprintf("LZMA dictionary of %d MiB", dict>>20), false
		}
		return "", false
	case "\x21": // LZMA2
		if len(c.props) != 1 {
			return "bad LZMA2 properties", false
		}
		dict, ok := lzma2Dict(c.props[0])
		if !ok || dict > maxDict {
			return fmt.Sprintf("LZMA2 dictionary of %d MiB", dict>>20), false
		}
		return "", false
	case "\x03\x04\x01": // PPMd
		if len(c.props) != 5 {
			return "bad PPMd properties", false
		}
		if mem := int64(binary.LittleEndian.Uint32(c.props[1:])); mem > maxDict {
			return fmt.Sprintf("PPMd model of %d MiB", mem>>20), false
		}
		return "", false
	}
	return "compression method " + hex.EncodeToString(c.id) + " not supported", false
}
