// Fragmented and progressive MP4 for one H.264 track (ISO/IEC 14496-12 and
// 14496-15): the init segment and fragments Porchlight records, the parser the
// player and exporter read them back with, and the fast-start file writer.
//
// The parser sees bytes that were decrypted from disk or may be damaged, and
// will be fuzzed: every read goes through a bounds-checked cursor, and every
// error names the box and its offset in the input.
#include "fmp4.h"

#include <algorithm>
#include <array>
#include <bit>
#include <limits>
#include <optional>
#include <string_view>

namespace porchlight::mp4 {

namespace {

constexpr uint32_t fourcc(const char (&s)[5]) {
    return (uint32_t(uint8_t(s[0])) << 24) | (uint32_t(uint8_t(s[1])) << 16) |
           (uint32_t(uint8_t(s[2])) << 8) | uint32_t(uint8_t(s[3]));
}

// tfhd flags (14496-12 8.8.7.1).
constexpr uint32_t kTfhdBaseDataOffset = 0x000001;
constexpr uint32_t kTfhdSampleDescriptionIndex = 0x000002;
constexpr uint32_t kTfhdDefaultDuration = 0x000008;
constexpr uint32_t kTfhdDefaultSize = 0x000010;
constexpr uint32_t kTfhdDefaultFlags = 0x000020;
constexpr uint32_t kTfhdDefaultBaseIsMoof = 0x020000;

// trun flags (14496-12 8.8.8.1).
constexpr uint32_t kTrunDataOffset = 0x000001;
constexpr uint32_t kTrunFirstSampleFlags = 0x000004;
constexpr uint32_t kTrunDuration = 0x000100;
constexpr uint32_t kTrunSize = 0x000200;
constexpr uint32_t kTrunFlags = 0x000400;
constexpr uint32_t kTrunCtsOffset = 0x000800;

// Sample flags (14496-12 8.8.3.1): sample_depends_on in bits 24-25,
// sample_is_non_sync_sample in bit 16.
constexpr uint32_t kSampleFlagsKeyframe = 0x02000000;  // depends on no other sample
constexpr uint32_t kSampleFlagsDelta = 0x01010000;     // depends on others, not sync
constexpr uint32_t kSampleIsNonSync = 0x00010000;

constexpr uint32_t kTrackId = 1;

// The unity matrix of mvhd and tkhd.
constexpr std::array<uint32_t, 9> kMatrix = {0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000};

// ---------------------------------------------------------------------------
// Writing

/// Appends big-endian fields and boxes to a buffer. Box sizes are patched in
/// when the box's body is done, so callers never count bytes by hand.
class BoxWriter {
public:
    void u8(uint8_t v) { buf_.push_back(v); }
    void u16(uint16_t v) {
        u8(uint8_t(v >> 8));
        u8(uint8_t(v));
    }
    void u32(uint32_t v) {
        u16(uint16_t(v >> 16));
        u16(uint16_t(v));
    }
    void u64(uint64_t v) {
        u32(uint32_t(v >> 32));
        u32(uint32_t(v));
    }
    void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
    void type(uint32_t t) { u32(t); }
    void zeros(size_t n) { buf_.insert(buf_.end(), n, 0); }
    void bytes(std::span<const uint8_t> b) { buf_.insert(buf_.end(), b.begin(), b.end()); }

    template <typename Body>
    void box(uint32_t t, Body&& body) {
        size_t start = buf_.size();
        u32(0);
        type(t);
        body();
        patch32(start, uint32_t(buf_.size() - start));
    }
    template <typename Body>
    void fullBox(uint32_t t, uint8_t version, uint32_t flags, Body&& body) {
        box(t, [&] {
            u32((uint32_t(version) << 24) | (flags & 0xFFFFFF));
            body();
        });
    }

    size_t size() const { return buf_.size(); }
    void patch32(size_t at, uint32_t v) {
        for (int i = 0; i < 4; ++i)
            buf_[at + i] = uint8_t(v >> (24 - 8 * i));
    }
    void patch64(size_t at, uint64_t v) {
        patch32(at, uint32_t(v >> 32));
        patch32(at + 4, uint32_t(v));
    }
    std::vector<uint8_t> take() { return std::move(buf_); }

private:
    std::vector<uint8_t> buf_;
};

void writeFtyp(BoxWriter& w, bool fragmented) {
    w.box(fourcc("ftyp"), [&] {
        w.type(fourcc("isom"));
        w.u32(0x200);
        w.type(fourcc("isom"));
        // iso6 covers movie fragments with tfdt and version 1 trun (signed
        // composition offsets); the plain export needs no more than iso2.
        w.type(fragmented ? fourcc("iso6") : fourcc("iso2"));
        w.type(fourcc("avc1"));
        w.type(fourcc("mp41"));
    });
}

// Durations beyond 32 bits (13 hours at 90 kHz) need version 1 headers.
uint8_t versionFor(uint64_t duration) {
    return duration > std::numeric_limits<uint32_t>::max() ? 1 : 0;
}

void writeTimes(BoxWriter& w, uint8_t version, uint64_t duration, bool withTimescale) {
    if (version == 1) {
        w.u64(0);  // creation_time: unknown, and not worth leaking into exports
        w.u64(0);  // modification_time
        if (withTimescale)
            w.u32(kTimescale);
        w.u64(duration);
    } else {
        w.u32(0);
        w.u32(0);
        if (withTimescale)
            w.u32(kTimescale);
        w.u32(uint32_t(duration));
    }
}

void writeMvhd(BoxWriter& w, uint64_t duration) {
    uint8_t v = versionFor(duration);
    // The movie timescale is the media's own 90 kHz, so durations are exact.
    w.fullBox(fourcc("mvhd"), v, 0, [&] {
        writeTimes(w, v, duration, true);
        w.u32(0x00010000);  // rate 1.0
        w.u16(0x0100);      // volume 1.0
        w.zeros(2 + 8);     // reserved
        for (uint32_t m : kMatrix)
            w.u32(m);
        w.zeros(6 * 4);  // pre_defined
        w.u32(kTrackId + 1);
    });
}

void writeTkhd(BoxWriter& w, const TrackInfo& track, uint64_t duration) {
    uint8_t v = versionFor(duration);
    // track_enabled | track_in_movie | track_in_preview
    w.fullBox(fourcc("tkhd"), v, 0x000003, [&] {
        if (v == 1) {
            w.u64(0);
            w.u64(0);
            w.u32(kTrackId);
            w.u32(0);  // reserved
            w.u64(duration);
        } else {
            w.u32(0);
            w.u32(0);
            w.u32(kTrackId);
            w.u32(0);
            w.u32(uint32_t(duration));
        }
        w.zeros(8);  // reserved
        w.u16(0);    // layer
        w.u16(0);    // alternate_group
        w.u16(0);    // volume: 0 for video
        w.u16(0);    // reserved
        for (uint32_t m : kMatrix)
            w.u32(m);
        w.u32(track.width << 16);  // 16.16 fixed point
        w.u32(track.height << 16);
    });
}

void writeMdhd(BoxWriter& w, uint64_t duration) {
    uint8_t v = versionFor(duration);
    w.fullBox(fourcc("mdhd"), v, 0, [&] {
        writeTimes(w, v, duration, true);
        // ISO 639-2 "und", three 5-bit letters offset by 0x60.
        w.u16(uint16_t((('u' - 0x60) << 10) | (('n' - 0x60) << 5) | ('d' - 0x60)));
        w.u16(0);  // pre_defined
    });
}

void writeHdlr(BoxWriter& w) {
    w.fullBox(fourcc("hdlr"), 0, 0, [&] {
        w.u32(0);  // pre_defined
        w.type(fourcc("vide"));
        w.zeros(3 * 4);  // reserved
        constexpr std::string_view kName = "Porchlight video";
        w.bytes({reinterpret_cast<const uint8_t*>(kName.data()), kName.size()});
        w.u8(0);
    });
}

void writeVmhdAndDinf(BoxWriter& w) {
    w.fullBox(fourcc("vmhd"), 0, 0x000001, [&] {
        w.u16(0);        // graphicsmode: copy
        w.zeros(3 * 2);  // opcolor
    });
    w.box(fourcc("dinf"), [&] {
        w.fullBox(fourcc("dref"), 0, 0, [&] {
            w.u32(1);
            // Flag 1: the media data is in this same file.
            w.fullBox(fourcc("url "), 0, 0x000001, [] {});
        });
    });
}

void writeStsd(BoxWriter& w, const TrackInfo& track) {
    w.fullBox(fourcc("stsd"), 0, 0, [&] {
        w.u32(1);
        w.box(fourcc("avc1"), [&] {
            w.zeros(6);      // SampleEntry reserved
            w.u16(1);        // data_reference_index
            w.u16(0);        // pre_defined
            w.u16(0);        // reserved
            w.zeros(3 * 4);  // pre_defined
            w.u16(uint16_t(track.width));
            w.u16(uint16_t(track.height));
            w.u32(0x00480000);  // 72 dpi
            w.u32(0x00480000);
            w.u32(0);     // reserved
            w.u16(1);     // frame_count
            w.zeros(32);  // compressorname: empty Pascal string
            w.u16(0x0018);
            w.u16(0xFFFF);  // pre_defined = -1
            w.box(fourcc("avcC"), [&] { w.bytes(track.avcC); });
        });
    });
}

/// moov for the one video track. \a tables writes the stbl boxes after stsd;
/// \a fragmented adds mvex, which says that movie fragments follow.
template <typename Tables>
void writeMoov(BoxWriter& w, const TrackInfo& track, uint64_t duration, bool fragmented,
               Tables&& tables) {
    w.box(fourcc("moov"), [&] {
        writeMvhd(w, duration);
        w.box(fourcc("trak"), [&] {
            writeTkhd(w, track, duration);
            w.box(fourcc("mdia"), [&] {
                writeMdhd(w, duration);
                writeHdlr(w);
                w.box(fourcc("minf"), [&] {
                    writeVmhdAndDinf(w);
                    w.box(fourcc("stbl"), [&] {
                        writeStsd(w, track);
                        tables();
                    });
                });
            });
        });
        if (!fragmented)
            return;
        w.box(fourcc("mvex"), [&] {
            w.fullBox(fourcc("trex"), 0, 0, [&] {
                w.u32(kTrackId);
                w.u32(1);  // default_sample_description_index
                w.u32(0);  // default_sample_duration
                w.u32(0);  // default_sample_size
                w.u32(0);  // default_sample_flags
            });
        });
    });
}

/// The mdat header for \a dataSize bytes; returns its length.
uint32_t writeMdatHeader(BoxWriter& w, uint64_t dataSize) {
    if (dataSize + 8 > std::numeric_limits<uint32_t>::max()) {
        w.u32(1);  // the real size follows as a 64-bit largesize
        w.type(fourcc("mdat"));
        w.u64(dataSize + 16);
        return 16;
    }
    w.u32(uint32_t(dataSize + 8));
    w.type(fourcc("mdat"));
    return 8;
}

// ---------------------------------------------------------------------------
// Reading

std::string typeName(uint32_t t) {
    std::string s;
    for (int shift = 24; shift >= 0; shift -= 8) {
        char c = char((t >> shift) & 0xFF);
        s += (c >= 0x20 && c < 0x7F) ? c : '?';
    }
    return s;
}

/// One box found in the input. Offsets are absolute, from the start of the
/// bytes handed to the public parse function, for error messages.
struct Box {
    uint32_t type = 0;
    size_t offset = 0;
    std::span<const uint8_t> payload;
    size_t payloadOffset = 0;

    std::string describe() const {
        return "box '" + typeName(type) + "' at offset " + std::to_string(offset);
    }
};

/// Reads big-endian fields without ever stepping past the end: a read that
/// would overrun returns 0 and marks the cursor failed, and the caller checks
/// failed() once after a group of reads.
class Cursor {
public:
    explicit Cursor(std::span<const uint8_t> data) : data_(data) {}

    uint8_t u8() { return uint8_t(read(1)); }
    uint16_t u16() { return uint16_t(read(2)); }
    uint32_t u32() { return uint32_t(read(4)); }
    uint64_t u64() { return read(8); }
    void skip(size_t n) {
        if (n > remaining()) {
            failed_ = true;
            pos_ = data_.size();
        } else {
            pos_ += n;
        }
    }
    size_t pos() const { return pos_; }
    size_t remaining() const { return data_.size() - pos_; }
    std::span<const uint8_t> rest() const { return data_.subspan(pos_); }
    bool failed() const { return failed_; }

private:
    uint64_t read(size_t n) {
        if (n > remaining()) {
            failed_ = true;
            pos_ = data_.size();
            return 0;
        }
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i)
            v = (v << 8) | data_[pos_ + i];
        pos_ += n;
        return v;
    }

    std::span<const uint8_t> data_;
    size_t pos_ = 0;
    bool failed_ = false;
};

Error truncated(const Box& box) {
    return makeError("MP4: " + box.describe() + " is too short for its fields");
}

/// Splits \a data, which starts at absolute offset \a base, into boxes. A box
/// of size 0 ("to the end of the file") is accepted only at the top level.
Expected<std::vector<Box>> children(std::span<const uint8_t> data, size_t base, bool topLevel,
                                    const std::string& where) {
    std::vector<Box> boxes;
    size_t pos = 0;
    while (pos < data.size()) {
        Cursor c(data.subspan(pos));
        uint64_t size = c.u32();
        uint32_t type = c.u32();
        if (c.failed())
            return makeError("MP4: truncated box header at offset " + std::to_string(base + pos) +
                             " in " + where);
        if (size == 1) {
            size = c.u64();
            if (c.failed())
                return makeError("MP4: truncated 64-bit size of box '" + typeName(type) +
                                 "' at offset " + std::to_string(base + pos));
        } else if (size == 0) {
            if (!topLevel)
                return makeError("MP4: box '" + typeName(type) + "' at offset " +
                                 std::to_string(base + pos) + " in " + where +
                                 " has size 0, allowed only at the top level");
            size = data.size() - pos;
        }
        size_t header = c.pos();
        if (size < header || size > data.size() - pos)
            return makeError("MP4: box '" + typeName(type) + "' at offset " +
                             std::to_string(base + pos) + " has size " + std::to_string(size) +
                             ", but " + std::to_string(data.size() - pos) + " bytes are left in " +
                             where);
        Box b;
        b.type = type;
        b.offset = base + pos;
        b.payload = data.subspan(pos + header, size_t(size) - header);
        b.payloadOffset = base + pos + header;
        boxes.push_back(b);
        pos += size_t(size);
    }
    return boxes;
}

Expected<std::vector<Box>> children(const Box& parent) {
    return children(parent.payload, parent.payloadOffset, false, parent.describe());
}

const Box* find(const std::vector<Box>& boxes, uint32_t type) {
    for (const Box& b : boxes)
        if (b.type == type)
            return &b;
    return nullptr;
}

/// The child of \a type inside \a parent, or an error saying it is missing.
Expected<Box> child(const Box& parent, uint32_t type) {
    auto kids = children(parent);
    if (!kids)
        return kids.error();
    if (const Box* b = find(*kids, type))
        return *b;
    return makeError("MP4: no '" + typeName(type) + "' in " + parent.describe());
}

/// The first trak's sample description if it is H.264; nullopt if the track
/// is something else, so the caller can look at the next one.
Expected<std::optional<TrackInfo>> parseTrak(const Box& trak) {
    auto mdia = child(trak, fourcc("mdia"));
    if (!mdia)
        return mdia.error();
    auto mdhd = child(*mdia, fourcc("mdhd"));
    if (!mdhd)
        return mdhd.error();
    auto minf = child(*mdia, fourcc("minf"));
    if (!minf)
        return minf.error();
    auto stbl = child(*minf, fourcc("stbl"));
    if (!stbl)
        return stbl.error();
    auto stsd = child(*stbl, fourcc("stsd"));
    if (!stsd)
        return stsd.error();

    Cursor sd(stsd->payload);
    sd.u32();  // version and flags
    uint32_t entryCount = sd.u32();
    if (sd.failed())
        return truncated(*stsd);
    if (entryCount == 0)
        return makeError("MP4: " + stsd->describe() + " has no sample entries");
    auto entries = children(sd.rest(), stsd->payloadOffset + sd.pos(), false, stsd->describe());
    if (!entries)
        return entries.error();
    if (entries->empty())
        return makeError("MP4: " + stsd->describe() + " has no sample entries");
    const Box& entry = entries->front();
    if (entry.type != fourcc("avc1"))
        return std::optional<TrackInfo>();

    // Only now that the track is ours does its timescale matter.
    Cursor hd(mdhd->payload);
    uint8_t version = hd.u8();
    hd.skip(3);
    hd.skip(version == 1 ? 16 : 8);
    uint32_t timescale = hd.u32();
    if (hd.failed())
        return truncated(*mdhd);
    if (timescale != kTimescale)
        return makeError("MP4: " + mdhd->describe() + " has timescale " +
                         std::to_string(timescale) + ", but Porchlight only reads " +
                         std::to_string(kTimescale) + " Hz tracks");

    // VisualSampleEntry: 8 bytes of SampleEntry, then 70 of its own, then boxes.
    Cursor e(entry.payload);
    e.skip(6 + 2 + 2 + 2 + 12);
    TrackInfo info;
    info.width = e.u16();
    info.height = e.u16();
    e.skip(4 + 4 + 4 + 2 + 32 + 2 + 2);
    if (e.failed())
        return truncated(entry);
    auto entryKids = children(e.rest(), entry.payloadOffset + e.pos(), false, entry.describe());
    if (!entryKids)
        return entryKids.error();
    const Box* avcC = find(*entryKids, fourcc("avcC"));
    if (!avcC)
        return makeError("MP4: no 'avcC' in " + entry.describe());
    // The smallest record: version, profile, compatibility, level, length
    // size, and the two parameter set counts.
    if (avcC->payload.size() < 7 || avcC->payload[0] != 1)
        return makeError("MP4: " + avcC->describe() +
                         " is not an AVCDecoderConfigurationRecord version 1");
    info.avcC.assign(avcC->payload.begin(), avcC->payload.end());
    return std::optional<TrackInfo>(std::move(info));
}

/// What tfhd says about the samples of its track fragment.
struct TrackFragmentDefaults {
    uint32_t flags = 0;
    uint64_t baseDataOffset = 0;
    std::optional<uint32_t> duration;
    std::optional<uint32_t> size;
    std::optional<uint32_t> sampleFlags;
};

Expected<TrackFragmentDefaults> parseTfhd(const Box& tfhd) {
    Cursor c(tfhd.payload);
    TrackFragmentDefaults d;
    d.flags = c.u32() & 0xFFFFFF;
    c.u32();  // track_ID: a fragment holds one track, whichever it is
    if (d.flags & kTfhdBaseDataOffset)
        d.baseDataOffset = c.u64();
    if (d.flags & kTfhdSampleDescriptionIndex)
        c.u32();
    if (d.flags & kTfhdDefaultDuration)
        d.duration = c.u32();
    if (d.flags & kTfhdDefaultSize)
        d.size = c.u32();
    if (d.flags & kTfhdDefaultFlags)
        d.sampleFlags = c.u32();
    if (c.failed())
        return truncated(tfhd);
    return d;
}

}  // namespace

// ---------------------------------------------------------------------------

std::vector<uint8_t> writeInitSegment(const TrackInfo& track) {
    BoxWriter w;
    writeFtyp(w, true);
    writeMoov(w, track, 0, true, [&] {
        // The sample tables are required but empty: the samples live in
        // the fragments.
        w.fullBox(fourcc("stts"), 0, 0, [&] { w.u32(0); });
        w.fullBox(fourcc("stsc"), 0, 0, [&] { w.u32(0); });
        w.fullBox(fourcc("stsz"), 0, 0, [&] {
            w.u32(0);
            w.u32(0);
        });
        w.fullBox(fourcc("stco"), 0, 0, [&] { w.u32(0); });
    });
    return w.take();
}

std::vector<uint8_t> writeFragment(uint32_t sequence, std::span<const Sample> samples) {
    uint64_t dataSize = 0;
    for (const Sample& s : samples)
        dataSize += s.data.size();
    // The mdat header's length decides data_offset, so know it up front.
    uint32_t mdatHeader = dataSize + 8 > std::numeric_limits<uint32_t>::max() ? 16 : 8;

    BoxWriter w;
    size_t dataOffsetAt = 0;
    w.box(fourcc("moof"), [&] {
        w.fullBox(fourcc("mfhd"), 0, 0, [&] { w.u32(sequence); });
        w.box(fourcc("traf"), [&] {
            w.fullBox(fourcc("tfhd"), 0, kTfhdDefaultBaseIsMoof, [&] { w.u32(kTrackId); });
            w.fullBox(fourcc("tfdt"), 1, 0,
                      [&] { w.u64(uint64_t(samples.empty() ? 0 : samples.front().dts)); });
            // Version 1: composition offsets are signed, so B-frames need no
            // edit list to start at zero.
            constexpr uint32_t kFlags =
                kTrunDataOffset | kTrunDuration | kTrunSize | kTrunFlags | kTrunCtsOffset;
            w.fullBox(fourcc("trun"), 1, kFlags, [&] {
                w.u32(uint32_t(samples.size()));
                dataOffsetAt = w.size();
                w.u32(0);  // data_offset, patched once the moof size is known
                for (const Sample& s : samples) {
                    w.u32(s.duration);
                    w.u32(uint32_t(s.data.size()));
                    w.u32(s.keyframe ? kSampleFlagsKeyframe : kSampleFlagsDelta);
                    w.i32(s.ctsOffset);
                }
            });
        });
    });
    // default-base-is-moof: offsets count from the first byte of the moof.
    w.patch32(dataOffsetAt, uint32_t(w.size() + mdatHeader));
    writeMdatHeader(w, dataSize);
    for (const Sample& s : samples)
        w.bytes(s.data);
    return w.take();
}

Expected<TrackInfo> parseInitSegment(std::span<const uint8_t> bytes) {
    auto top = children(bytes, 0, true, "the init segment");
    if (!top)
        return top.error();
    const Box* moov = find(*top, fourcc("moov"));
    if (!moov)
        return makeError("MP4: no 'moov' box at the top level: not an init segment");
    auto kids = children(*moov);
    if (!kids)
        return kids.error();
    for (const Box& b : *kids) {
        if (b.type != fourcc("trak"))
            continue;
        auto info = parseTrak(b);
        if (!info)
            return info.error();
        if (*info)
            return std::move(**info);
    }
    return makeError("MP4: " + moov->describe() + " has no H.264 ('avc1') track");
}

Expected<std::vector<Sample>> parseFragment(std::span<const uint8_t> bytes) {
    auto top = children(bytes, 0, true, "the fragment");
    if (!top)
        return top.error();
    auto moofIt = std::find_if(top->begin(), top->end(),
                               [](const Box& b) { return b.type == fourcc("moof"); });
    if (moofIt == top->end())
        return makeError("MP4: no 'moof' box at the top level: not a fragment");
    const Box& moof = *moofIt;
    auto mdatIt =
        std::find_if(moofIt, top->end(), [](const Box& b) { return b.type == fourcc("mdat"); });
    if (mdatIt == top->end())
        return makeError("MP4: no 'mdat' box after " + moof.describe());
    const Box& mdat = *mdatIt;

    // Only the first track fragment: Porchlight's fragments have one track.
    auto traf = child(moof, fourcc("traf"));
    if (!traf)
        return traf.error();
    auto trafKids = children(*traf);
    if (!trafKids)
        return trafKids.error();
    const Box* tfhdBox = find(*trafKids, fourcc("tfhd"));
    if (!tfhdBox)
        return makeError("MP4: no 'tfhd' in " + traf->describe());
    auto tfhd = parseTfhd(*tfhdBox);
    if (!tfhd)
        return tfhd.error();
    const Box* tfdtBox = find(*trafKids, fourcc("tfdt"));
    if (!tfdtBox)
        return makeError("MP4: no 'tfdt' in " + traf->describe() +
                         ": the fragment's start time is unknown");
    Cursor tc(tfdtBox->payload);
    uint8_t tfdtVersion = tc.u8();
    tc.skip(3);
    // Sums run in unsigned arithmetic, which wraps instead of overflowing.
    uint64_t dts = tfdtVersion == 1 ? tc.u64() : tc.u32();
    if (tc.failed())
        return truncated(*tfdtBox);

    // Where the first run's data starts. Without an explicit base offset both
    // default-base-is-moof and the plain rule (first traf) mean the moof start.
    uint64_t base = (tfhd->flags & kTfhdBaseDataOffset) ? tfhd->baseDataOffset : moof.offset;
    if (base > bytes.size())
        return makeError("MP4: " + tfhdBox->describe() + " puts the base data offset at " +
                         std::to_string(base) + ", beyond the " + std::to_string(bytes.size()) +
                         " bytes of input");
    const size_t mdatBegin = mdat.payloadOffset;
    const size_t mdatEnd = mdat.payloadOffset + mdat.payload.size();

    std::vector<Sample> samples;
    uint64_t next = base;  // where a run without data_offset starts
    bool anyTrun = false;
    for (const Box& trun : *trafKids) {
        if (trun.type != fourcc("trun"))
            continue;
        anyTrun = true;
        Cursor c(trun.payload);
        uint8_t version = c.u8();
        uint32_t flags = (uint32_t(c.u8()) << 16) | c.u16();
        uint32_t count = c.u32();
        int64_t pos = int64_t(next);
        if (flags & kTrunDataOffset)
            pos = int64_t(base) + int32_t(c.u32());
        std::optional<uint32_t> firstFlags;
        if (flags & kTrunFirstSampleFlags)
            firstFlags = c.u32();
        if (c.failed())
            return truncated(trun);

        size_t perSample = 4 * size_t(std::popcount(flags & (kTrunDuration | kTrunSize |
                                                             kTrunFlags | kTrunCtsOffset)));
        if (perSample != 0 && count > c.remaining() / perSample)
            return makeError("MP4: " + trun.describe() + " claims " + std::to_string(count) +
                             " samples, more than its " + std::to_string(c.remaining()) +
                             " bytes can hold");
        if (!(flags & kTrunSize) && !tfhd->size)
            return makeError("MP4: " + trun.describe() + " has no sample sizes, nor does " +
                             tfhdBox->describe() + " give a default");
        if (!(flags & kTrunDuration) && !tfhd->duration)
            return makeError("MP4: " + trun.describe() + " has no sample durations, nor does " +
                             tfhdBox->describe() + " give a default");
        if (!(flags & kTrunFlags) && !tfhd->sampleFlags && !(firstFlags && count <= 1))
            return makeError("MP4: " + trun.describe() + " has no sample flags, nor does " +
                             tfhdBox->describe() + " give a default");

        for (uint32_t i = 0; i < count; ++i) {
            Sample s;
            s.duration = (flags & kTrunDuration) ? c.u32() : *tfhd->duration;
            uint32_t size = (flags & kTrunSize) ? c.u32() : *tfhd->size;
            uint32_t sampleFlags = 0;
            if (flags & kTrunFlags)
                sampleFlags = c.u32();
            else if (i == 0 && firstFlags)
                sampleFlags = *firstFlags;
            else
                sampleFlags = *tfhd->sampleFlags;
            if (flags & kTrunCtsOffset) {
                uint32_t raw = c.u32();
                // Version 0 offsets are unsigned; anything that does not fit
                // an int32 is nonsense for video either way.
                s.ctsOffset = version == 0 ? int32_t(std::min<uint32_t>(raw, INT32_MAX))
                                           : static_cast<int32_t>(raw);
            }
            if (c.failed())
                return truncated(trun);
            // A zero-size sample carries no picture; refusing it also bounds
            // the sample count by the mdat size when trun has no table.
            if (size == 0)
                return makeError("MP4: sample " + std::to_string(i) + " of " + trun.describe() +
                                 " is empty");
            if (pos < int64_t(mdatBegin) || uint64_t(pos) > mdatEnd ||
                size > mdatEnd - uint64_t(pos))
                return makeError("MP4: sample " + std::to_string(i) + " of " + trun.describe() +
                                 " (bytes " + std::to_string(pos) + " to " +
                                 std::to_string(pos + int64_t(size)) + ") lies outside " +
                                 mdat.describe() + " (bytes " + std::to_string(mdatBegin) + " to " +
                                 std::to_string(mdatEnd) + ")");
            s.data.assign(bytes.begin() + pos, bytes.begin() + pos + size);
            s.dts = static_cast<int64_t>(dts);
            s.keyframe = !(sampleFlags & kSampleIsNonSync);
            dts += s.duration;
            pos += size;
            samples.push_back(std::move(s));
        }
        next = uint64_t(pos);
    }
    if (!anyTrun)
        return makeError("MP4: no 'trun' in " + traf->describe());
    return samples;
}

// ---------------------------------------------------------------------------

Mp4FileWriter::Mp4FileWriter(TrackInfo track) : track_(std::move(track)) {}

void Mp4FileWriter::add(const SampleInfo& sample) {
    samples_.push_back(sample);
}

namespace {

/// The duration each sample gets in the file. An MP4 sample table stores no
/// timestamps, only durations, so a sample has to last until the next one
/// starts: across a gap (the camera stalled, the recorder dropped frames)
/// the earlier frame is held, keeping the file as long as the wall-clock
/// time it covers; jittery timestamps are followed exactly rather than
/// drifting. Only where the next dts is not after this sample's (timestamps
/// going backwards) does the sample keep its own duration, which moves the
/// rest of the file later instead of ever making a duration negative. A zero
/// duration there borrows the previous one (1 tick for the very first).
std::vector<uint32_t> fileDurations(const std::vector<SampleInfo>& samples) {
    std::vector<uint32_t> out(samples.size());
    if (samples.empty())
        return out;
    // This sample's dts in the file; unsigned so that absurd input wraps
    // rather than overflows.
    uint64_t dts = uint64_t(samples.front().dts);
    uint32_t previous = 1;
    for (size_t i = 0; i < samples.size(); ++i) {
        uint64_t d = samples[i].duration;
        if (i + 1 < samples.size() && samples[i + 1].dts > static_cast<int64_t>(dts))
            d = uint64_t(samples[i + 1].dts) - dts;
        if (d == 0)
            d = previous;
        // A gap of over 13 hours does not fit; holding that long is enough.
        d = std::min<uint64_t>(d, std::numeric_limits<uint32_t>::max());
        out[i] = uint32_t(d);
        previous = uint32_t(d);
        dts += d;
    }
    return out;
}

/// Run-length (count, value) pairs, as stts and ctts store them.
template <typename T>
std::vector<std::pair<uint32_t, T>> runs(const std::vector<T>& values) {
    std::vector<std::pair<uint32_t, T>> out;
    for (T v : values) {
        if (!out.empty() && out.back().second == v)
            ++out.back().first;
        else
            out.emplace_back(1, v);
    }
    return out;
}

}  // namespace

int64_t Mp4FileWriter::durationTicks() const {
    int64_t total = 0;
    for (uint32_t d : fileDurations(samples_))
        total += d;
    return total;
}

std::vector<uint8_t> Mp4FileWriter::header() const {
    std::vector<uint32_t> durations = fileDurations(samples_);
    uint64_t duration = 0;
    uint64_t dataSize = 0;
    bool anyCts = false;
    bool anyNegativeCts = false;
    bool allKeyframes = true;
    std::vector<int32_t> cts;
    cts.reserve(samples_.size());
    for (size_t i = 0; i < samples_.size(); ++i) {
        duration += durations[i];
        dataSize += samples_[i].size;
        anyCts |= samples_[i].ctsOffset != 0;
        anyNegativeCts |= samples_[i].ctsOffset < 0;
        allKeyframes &= samples_[i].keyframe;
        cts.push_back(samples_[i].ctsOffset);
    }
    uint32_t mdatHeader = dataSize + 8 > std::numeric_limits<uint32_t>::max() ? 16 : 8;
    auto durationRuns = runs(durations);
    auto ctsRuns = runs(cts);
    bool any = !samples_.empty();

    // All samples form one chunk right after the mdat header, so there is a
    // single chunk offset. It is patched in once the moov size is known; it
    // can only outgrow stco (32 bits) if the moov itself is gigabytes, but
    // then co64 takes over.
    for (bool co64 : {false, true}) {
        BoxWriter w;
        writeFtyp(w, false);
        size_t chunkOffsetAt = 0;
        writeMoov(w, track_, duration, false, [&] {
            w.fullBox(fourcc("stts"), 0, 0, [&] {
                w.u32(uint32_t(durationRuns.size()));
                for (auto [count, d] : durationRuns) {
                    w.u32(count);
                    w.u32(d);
                }
            });
            if (anyCts) {
                // Version 1 (signed) only when needed: some older players
                // know only version 0.
                w.fullBox(fourcc("ctts"), anyNegativeCts ? 1 : 0, 0, [&] {
                    w.u32(uint32_t(ctsRuns.size()));
                    for (auto [count, offset] : ctsRuns) {
                        w.u32(count);
                        w.i32(offset);
                    }
                });
            }
            if (!allKeyframes) {
                // Without stss every sample is a sync sample.
                uint32_t syncCount = 0;
                for (const SampleInfo& s : samples_)
                    syncCount += s.keyframe;
                w.fullBox(fourcc("stss"), 0, 0, [&] {
                    w.u32(syncCount);
                    for (size_t i = 0; i < samples_.size(); ++i)
                        if (samples_[i].keyframe)
                            w.u32(uint32_t(i + 1));  // 1-based
                });
            }
            w.fullBox(fourcc("stsz"), 0, 0, [&] {
                w.u32(0);  // sizes differ: one entry each
                w.u32(uint32_t(samples_.size()));
                for (const SampleInfo& s : samples_)
                    w.u32(s.size);
            });
            w.fullBox(fourcc("stsc"), 0, 0, [&] {
                w.u32(any ? 1 : 0);
                if (any) {
                    w.u32(1);  // first_chunk
                    w.u32(uint32_t(samples_.size()));
                    w.u32(1);  // sample_description_index
                }
            });
            w.fullBox(fourcc(co64 ? "co64" : "stco"), 0, 0, [&] {
                w.u32(any ? 1 : 0);
                if (any) {
                    chunkOffsetAt = w.size();
                    if (co64)
                        w.u64(0);
                    else
                        w.u32(0);
                }
            });
        });
        uint64_t chunkOffset = w.size() + mdatHeader;
        if (!co64 && chunkOffset > std::numeric_limits<uint32_t>::max())
            continue;
        if (any) {
            if (co64)
                w.patch64(chunkOffsetAt, chunkOffset);
            else
                w.patch32(chunkOffsetAt, uint32_t(chunkOffset));
        }
        writeMdatHeader(w, dataSize);
        return w.take();
    }
    return {};  // not reached: the co64 pass always returns
}

}  // namespace porchlight::mp4
