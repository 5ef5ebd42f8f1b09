// Tests for the MP4 writer and parser: real x264 output written as fragments
// and as a fast-start file must be accepted by ffprobe/ffmpeg, read back
// exactly, and damaged input must give errors, never a crash.
#include "fmp4.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace porchlight::mp4 {
namespace {

namespace fs = std::filesystem;

constexpr int kFrames = 60;
constexpr uint32_t kFrameTicks = 3000;  // 30 fps at 90 kHz

// ---------------------------------------------------------------------------
// Helpers

struct RunResult {
    int exitCode = -1;
    std::string out;
};

RunResult run(const std::string& command) {
    RunResult r;
    FILE* p = popen(command.c_str(), "r");
    if (!p)
        return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        r.out.append(buf, n);
    int status = pclose(p);
    r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string quote(const fs::path& p) {
    return "'" + p.string() + "'";
}

std::vector<uint8_t> readFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void append(std::vector<uint8_t>& out, std::span<const uint8_t> bytes) {
    out.insert(out.end(), bytes.begin(), bytes.end());
}

void writeFile(const fs::path& path, std::span<const uint8_t> bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    ASSERT_TRUE(out.good()) << path;
}

std::string ffprobe() {
    const char* p = getenv("FFPROBE");
    return p ? p : "";
}

/// Runs ffprobe with \a args on \a file and parses its JSON output.
nlohmann::json probe(const fs::path& file, const std::string& args) {
    RunResult r = run(quote(ffprobe()) + " -v error " + args + " -of json " + quote(file));
    EXPECT_EQ(r.exitCode, 0) << r.out;
    return nlohmann::json::parse(r.out, nullptr, false);
}

/// The container's duration in seconds, or -1 if ffprobe gave none.
double formatDuration(const nlohmann::json& j) {
    if (!j.contains("format") || !j["format"].contains("duration"))
        return -1;
    return std::stod(j["format"]["duration"].get<std::string>());
}

/// ffmpeg sits next to ffprobe; a full decode catches what probing misses.
void expectDecodes(const fs::path& file) {
    fs::path ffmpeg = fs::path(ffprobe()).parent_path() / "ffmpeg";
    if (!fs::exists(ffmpeg))
        return;
    RunResult r = run(quote(ffmpeg) + " -v error -i " + quote(file) + " -f null - 2>&1");
    // The first lines say what is wrong; a broken file repeats them per frame.
    EXPECT_EQ(r.exitCode, 0) << r.out.substr(0, 2000);
    EXPECT_EQ(r.out.substr(0, 2000), "") << "ffmpeg complained while decoding";
}

class TempDir {
public:
    TempDir() {
        std::string tmpl = (fs::path(testing::TempDir()) / "fmp4_test.XXXXXX").string();
        if (mkdtemp(tmpl.data()))
            path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        if (!path_.empty())
            fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

uint32_t be32(std::span<const uint8_t> b, size_t at) {
    return (uint32_t(b[at]) << 24) | (uint32_t(b[at + 1]) << 16) | (uint32_t(b[at + 2]) << 8) |
           b[at + 3];
}

void putBe32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i)
        b[at + i] = uint8_t(v >> (24 - 8 * i));
}

/// A box as the test sees it, from a deliberately separate minimal walker.
struct TestBox {
    std::string type;
    size_t offset = 0;
    size_t size = 0;
    std::string path;  // e.g. "moov/trak/tkhd"
};

// Containers the walker descends into, and where their children start.
size_t childStart(const std::string& type) {
    if (type == "moov" || type == "trak" || type == "mdia" || type == "minf" || type == "stbl" ||
        type == "dinf" || type == "mvex" || type == "moof" || type == "traf")
        return 8;
    if (type == "stsd" || type == "dref")
        return 16;  // full box header and entry count
    if (type == "avc1")
        return 8 + 78;
    return 0;
}

void walk(std::span<const uint8_t> b, size_t begin, size_t end, const std::string& parent,
          std::vector<TestBox>& out) {
    for (size_t pos = begin; pos + 8 <= end;) {
        size_t size = be32(b, pos);
        if (size < 8 || pos + size > end)
            return;
        TestBox box{std::string(reinterpret_cast<const char*>(&b[pos + 4]), 4), pos, size, ""};
        box.path = parent.empty() ? box.type : parent + "/" + box.type;
        out.push_back(box);
        if (size_t start = childStart(box.type))
            walk(b, pos + start, pos + size, box.path, out);
        pos += size;
    }
}

std::vector<TestBox> boxes(std::span<const uint8_t> b) {
    std::vector<TestBox> out;
    walk(b, 0, b.size(), "", out);
    return out;
}

std::optional<TestBox> findBox(std::span<const uint8_t> b, const std::string& path) {
    for (const TestBox& box : boxes(b))
        if (box.path == path)
            return box;
    return std::nullopt;
}

// ---------------------------------------------------------------------------
// Real H.264, encoded by x264 at test time

struct Stream {
    TrackInfo track;
    std::vector<Sample> samples;
    std::string error;  // why there is no stream, if there is none
};

std::vector<std::span<const uint8_t>> splitAnnexB(std::span<const uint8_t> b) {
    std::vector<size_t> starts;  // first byte after each start code
    for (size_t i = 0; i + 3 <= b.size(); ++i) {
        if (b[i] == 0 && b[i + 1] == 0 && b[i + 2] == 1) {
            starts.push_back(i + 3);
            i += 2;
        }
    }
    std::vector<std::span<const uint8_t>> nals;
    for (size_t k = 0; k < starts.size(); ++k) {
        size_t end = k + 1 < starts.size() ? starts[k + 1] - 3 : b.size();
        while (end > starts[k] && b[end - 1] == 0)  // a 4-byte start code's leading zero
            --end;
        if (end > starts[k])
            nals.push_back(b.subspan(starts[k], end - starts[k]));
    }
    return nals;
}

Stream encode() {
    Stream s;
    TempDir dir;
    fs::path file = dir.path() / "test.h264";
    RunResult r = run("gst-launch-1.0 -q videotestsrc num-buffers=" + std::to_string(kFrames) +
                      " ! video/x-raw,width=320,height=240,framerate=30/1"
                      " ! x264enc key-int-max=15 bframes=0 speed-preset=ultrafast"
                      " ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au"
                      " ! filesink location=" +
                      quote(file) + " 2>&1");
    if (r.exitCode != 0) {
        s.error = "gst-launch-1.0 with x264enc failed: " + r.out;
        return s;
    }
    std::vector<uint8_t> annexB = readFile(file);
    std::vector<uint8_t> sps, pps;

    // Group NAL units into access units (H.264 7.4.1.2.3): a new one starts
    // at a delimiter, parameter set or SEI after a slice, or at a slice whose
    // first_mb_in_slice is 0 (ue(v) 0 is a single 1 bit) after a slice.
    Sample current;
    bool hasSlice = false;
    auto finish = [&] {
        if (hasSlice) {
            current.dts = int64_t(s.samples.size()) * kFrameTicks;
            current.duration = kFrameTicks;
            s.samples.push_back(std::move(current));
        }
        current = Sample();
        hasSlice = false;
    };
    for (std::span<const uint8_t> nal : splitAnnexB(annexB)) {
        int type = nal[0] & 0x1F;
        bool slice = type == 1 || type == 5;
        if (hasSlice && (type == 9 || type == 6 || type == 7 || type == 8 ||
                         (slice && nal.size() > 1 && (nal[1] & 0x80))))
            finish();
        if (type == 7 && sps.empty())
            sps.assign(nal.begin(), nal.end());
        if (type == 8 && pps.empty())
            pps.assign(nal.begin(), nal.end());
        if (type == 7 || type == 8 || type == 9)
            continue;  // parameter sets go in avcC; delimiters are not needed
        uint32_t n = uint32_t(nal.size());
        current.data.insert(current.data.end(),
                            {uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)});
        append(current.data, nal);
        hasSlice |= slice;
        current.keyframe |= type == 5;
    }
    finish();
    if (sps.size() < 4 || pps.empty()) {
        s.error = "no SPS/PPS in the encoded stream";
        return s;
    }
    // AVCDecoderConfigurationRecord (14496-15 5.3.3.1).
    s.track.avcC = {
        1, sps[1], sps[2], sps[3], 0xFF, 0xE1, uint8_t(sps.size() >> 8), uint8_t(sps.size())};
    append(s.track.avcC, sps);
    s.track.avcC.insert(s.track.avcC.end(), {1, uint8_t(pps.size() >> 8), uint8_t(pps.size())});
    append(s.track.avcC, pps);
    s.track.width = 320;
    s.track.height = 240;
    return s;
}

const Stream& stream() {
    static const Stream s = encode();
    return s;
}

#define REQUIRE_STREAM()                    \
    do {                                    \
        if (!stream().error.empty())        \
            GTEST_SKIP() << stream().error; \
    } while (0)

#define REQUIRE_FFPROBE()                                           \
    do {                                                            \
        if (ffprobe().empty())                                      \
            GTEST_SKIP() << "FFPROBE is not set: no ffprobe found"; \
    } while (0)

/// Init segment plus fragments of \a perFragment samples each.
std::vector<uint8_t> fragmentedFile(const Stream& s, size_t perFragment) {
    std::vector<uint8_t> out = writeInitSegment(s.track);
    uint32_t sequence = 1;
    for (size_t i = 0; i < s.samples.size(); i += perFragment) {
        size_t n = std::min(perFragment, s.samples.size() - i);
        append(out, writeFragment(sequence++, std::span(s.samples).subspan(i, n)));
    }
    return out;
}

/// A whole progressive file from \a samples, the way export writes it.
std::vector<uint8_t> progressiveFile(const TrackInfo& track, const std::vector<Sample>& samples) {
    Mp4FileWriter writer(track);
    for (const Sample& s : samples)
        writer.add({uint32_t(s.data.size()), s.dts, s.ctsOffset, s.duration, s.keyframe});
    std::vector<uint8_t> out = writer.header();
    for (const Sample& s : samples)
        append(out, s.data);
    return out;
}

// Synthetic samples for what x264 here does not produce: B-frame offsets.
std::vector<Sample> syntheticSamples() {
    std::vector<Sample> out;
    for (int i = 0; i < 8; ++i) {
        Sample s;
        s.data.assign(size_t(10 + i * 7), uint8_t(i + 1));
        s.dts = 1'000'000 + int64_t(i) * 3003;
        s.ctsOffset = (i % 3 == 1) ? -3003 : 6006;
        s.duration = 3003;
        s.keyframe = i == 0 || i == 5;
        out.push_back(std::move(s));
    }
    return out;
}

void expectSameSamples(const std::vector<Sample>& got, std::span<const Sample> want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        SCOPED_TRACE("sample " + std::to_string(i));
        EXPECT_EQ(got[i].data, want[i].data);
        EXPECT_EQ(got[i].dts, want[i].dts);
        EXPECT_EQ(got[i].ctsOffset, want[i].ctsOffset);
        EXPECT_EQ(got[i].duration, want[i].duration);
        EXPECT_EQ(got[i].keyframe, want[i].keyframe);
    }
}

// ---------------------------------------------------------------------------
// The stream itself: a broken encoder setup would make every test vacuous.

TEST(Fmp4Test, EncodedStreamLooksRight) {
    REQUIRE_STREAM();
    ASSERT_EQ(stream().samples.size(), size_t(kFrames));
    int keyframes = 0;
    for (const Sample& s : stream().samples)
        keyframes += s.keyframe;
    EXPECT_EQ(keyframes, kFrames / 15);
    EXPECT_TRUE(stream().samples[0].keyframe);
}

// ---------------------------------------------------------------------------
// Round trips through our own parser

TEST(Fmp4Test, InitSegmentRoundTrips) {
    TrackInfo track{
        {1, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0, 2, 0x67, 0x64, 1, 0, 2, 0x68, 0xEE}, 1920, 1080};
    auto parsed = parseInitSegment(writeInitSegment(track));
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(*parsed, track);
}

TEST(Fmp4Test, InitSegmentHasTheBoxesMediaSourceNeeds) {
    TrackInfo track{{1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 0}, 640, 480};
    std::vector<uint8_t> init = writeInitSegment(track);
    std::vector<std::string> paths;
    for (const TestBox& b : boxes(init))
        paths.push_back(b.path);
    std::vector<std::string> want = {
        "ftyp",
        "moov",
        "moov/mvhd",
        "moov/trak",
        "moov/trak/tkhd",
        "moov/trak/mdia",
        "moov/trak/mdia/mdhd",
        "moov/trak/mdia/hdlr",
        "moov/trak/mdia/minf",
        "moov/trak/mdia/minf/vmhd",
        "moov/trak/mdia/minf/dinf",
        "moov/trak/mdia/minf/dinf/dref",
        "moov/trak/mdia/minf/dinf/dref/url ",
        "moov/trak/mdia/minf/stbl",
        "moov/trak/mdia/minf/stbl/stsd",
        "moov/trak/mdia/minf/stbl/stsd/avc1",
        "moov/trak/mdia/minf/stbl/stsd/avc1/avcC",
        "moov/trak/mdia/minf/stbl/stts",
        "moov/trak/mdia/minf/stbl/stsc",
        "moov/trak/mdia/minf/stbl/stsz",
        "moov/trak/mdia/minf/stbl/stco",
        "moov/mvex",
        "moov/mvex/trex",
    };
    EXPECT_EQ(paths, want);
    // The whole buffer is covered by the two top-level boxes.
    auto moov = findBox(init, "moov");
    ASSERT_TRUE(moov);
    EXPECT_EQ(moov->offset + moov->size, init.size());
    // tkhd: version 0, flags enabled|in_movie|in_preview, width/height 16.16.
    auto tkhd = findBox(init, "moov/trak/tkhd");
    ASSERT_TRUE(tkhd);
    EXPECT_EQ(be32(init, tkhd->offset + 8), 0x00000003u);
    EXPECT_EQ(be32(init, tkhd->offset + tkhd->size - 8), 640u << 16);
    EXPECT_EQ(be32(init, tkhd->offset + tkhd->size - 4), 480u << 16);
    // mdhd: 90 kHz, language "und".
    auto mdhd = findBox(init, "moov/trak/mdia/mdhd");
    ASSERT_TRUE(mdhd);
    EXPECT_EQ(be32(init, mdhd->offset + 20), kTimescale);
    EXPECT_EQ(be32(init, mdhd->offset + 28) >> 16, 0x55C4u);
}

TEST(Fmp4Test, RealFragmentsRoundTrip) {
    REQUIRE_STREAM();
    const Stream& s = stream();
    auto track = parseInitSegment(writeInitSegment(s.track));
    ASSERT_TRUE(track) << track.error().message;
    EXPECT_EQ(*track, s.track);
    for (size_t i = 0; i < s.samples.size(); i += 15) {
        auto part = std::span(s.samples).subspan(i, 15);
        auto parsed = parseFragment(writeFragment(uint32_t(i / 15 + 1), part));
        ASSERT_TRUE(parsed) << parsed.error().message;
        expectSameSamples(*parsed, part);
    }
}

TEST(Fmp4Test, SignedCompositionOffsetsRoundTrip) {
    std::vector<Sample> samples = syntheticSamples();
    std::vector<uint8_t> fragment = writeFragment(7, samples);
    auto parsed = parseFragment(fragment);
    ASSERT_TRUE(parsed) << parsed.error().message;
    expectSameSamples(*parsed, samples);
    auto mfhd = findBox(fragment, "moof/mfhd");
    ASSERT_TRUE(mfhd);
    EXPECT_EQ(be32(fragment, mfhd->offset + 12), 7u);
    auto trun = findBox(fragment, "moof/traf/trun");
    ASSERT_TRUE(trun);
    EXPECT_EQ(be32(fragment, trun->offset + 8), 0x01000F01u);  // version 1, flags
    // Sample flags: a keyframe depends on nothing, others are non-sync.
    EXPECT_EQ(be32(fragment, trun->offset + 20 + 8), 0x02000000u);
    EXPECT_EQ(be32(fragment, trun->offset + 20 + 16 + 8), 0x01010000u);
}

TEST(Fmp4Test, EmptyFragmentParsesToNoSamples) {
    auto parsed = parseFragment(writeFragment(1, {}));
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_TRUE(parsed->empty());
}

// Fragments written by others use tfhd defaults, first-sample flags and
// version 0 trun; hand-built here so the test knows every byte.
TEST(Fmp4Test, ParsesTfhdDefaultsAndFirstSampleFlags) {
    auto be = [](std::vector<uint8_t>& b, uint32_t v) {
        b.insert(b.end(), {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)});
    };
    auto box = [&](const char* type, const std::vector<uint8_t>& body) {
        std::vector<uint8_t> b;
        be(b, uint32_t(body.size() + 8));
        b.insert(b.end(), type, type + 4);
        append(b, body);
        return b;
    };
    std::vector<uint8_t> tfhd, tfdt, trun, mfhd;
    be(tfhd, 0x000038);  // default duration, size, flags; base is not moof
    be(tfhd, 1);
    be(tfhd, 1500);        // duration
    be(tfhd, 3);           // size
    be(tfhd, 0x01010000);  // non-sync
    be(tfdt, 0);           // version 0
    be(tfdt, 90000);
    be(trun, 0x000005);  // data offset, first sample flags
    be(trun, 3);         // samples
    size_t dataOffsetAt = trun.size();
    be(trun, 0);
    be(trun, 0x02000000);
    be(mfhd, 0);
    be(mfhd, 1);
    std::vector<uint8_t> traf = box("tfhd", tfhd);
    append(traf, box("tfdt", tfdt));
    std::vector<uint8_t> moofBody = box("mfhd", mfhd);
    size_t trunInMoof = moofBody.size() + 8 + traf.size() + 8 + 8;
    append(traf, box("trun", trun));
    append(moofBody, box("traf", traf));
    std::vector<uint8_t> bytes = box("moof", moofBody);
    putBe32(bytes, trunInMoof + dataOffsetAt, uint32_t(bytes.size() + 8));
    append(bytes, box("mdat", {1, 1, 1, 2, 2, 2, 3, 3, 3}));

    auto parsed = parseFragment(bytes);
    ASSERT_TRUE(parsed) << parsed.error().message;
    ASSERT_EQ(parsed->size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ((*parsed)[i].data, std::vector<uint8_t>(3, uint8_t(i + 1)));
        EXPECT_EQ((*parsed)[i].dts, 90000 + int64_t(i) * 1500);
        EXPECT_EQ((*parsed)[i].duration, 1500u);
        EXPECT_EQ((*parsed)[i].keyframe, i == 0);
    }
}

// ---------------------------------------------------------------------------
// Other readers: ffprobe and ffmpeg

TEST(Fmp4Test, FragmentedFileIsReadByFfmpeg) {
    REQUIRE_STREAM();
    REQUIRE_FFPROBE();
    TempDir dir;
    fs::path file = dir.path() / "fragmented.mp4";
    writeFile(file, fragmentedFile(stream(), 15));
    nlohmann::json j = probe(file,
                             "-count_frames -show_entries "
                             "stream=codec_name,width,height,nb_read_frames");
    ASSERT_TRUE(j.contains("streams")) << j.dump();
    ASSERT_EQ(j["streams"].size(), 1u) << j.dump();
    const auto& st = j["streams"][0];
    EXPECT_EQ(st.value("codec_name", ""), "h264");
    EXPECT_EQ(st.value("width", 0), 320);
    EXPECT_EQ(st.value("height", 0), 240);
    EXPECT_EQ(st.value("nb_read_frames", ""), std::to_string(kFrames));
    expectDecodes(file);
}

TEST(Fmp4Test, ProgressiveFileIsReadByFfmpeg) {
    REQUIRE_STREAM();
    REQUIRE_FFPROBE();
    const Stream& s = stream();
    std::vector<uint8_t> bytes = progressiveFile(s.track, s.samples);

    std::vector<std::string> top;
    for (const TestBox& b : boxes(bytes))
        if (b.path.find('/') == std::string::npos)
            top.push_back(b.type);
    EXPECT_EQ(top, (std::vector<std::string>{"ftyp", "moov", "mdat"}));
    auto mdat = findBox(bytes, "mdat");
    ASSERT_TRUE(mdat);
    EXPECT_EQ(mdat->offset + mdat->size, bytes.size());
    // Keyframes every 15 frames: stss lists 1, 16, 31, 46.
    auto stss = findBox(bytes, "moov/trak/mdia/minf/stbl/stss");
    ASSERT_TRUE(stss);
    ASSERT_EQ(be32(bytes, stss->offset + 12), 4u);
    for (uint32_t k = 0; k < 4; ++k)
        EXPECT_EQ(be32(bytes, stss->offset + 16 + 4 * k), 1 + 15 * k);
    EXPECT_FALSE(findBox(bytes, "moov/trak/mdia/minf/stbl/ctts")) << "all offsets are zero";
    // One chunk, starting right after the mdat header.
    auto stco = findBox(bytes, "moov/trak/mdia/minf/stbl/stco");
    ASSERT_TRUE(stco);
    EXPECT_EQ(be32(bytes, stco->offset + 16), mdat->offset + 8);

    TempDir dir;
    fs::path file = dir.path() / "export.mp4";
    writeFile(file, bytes);
    nlohmann::json j = probe(file,
                             "-count_frames -show_entries "
                             "stream=codec_name,width,height,nb_read_frames:format=duration");
    ASSERT_TRUE(j.contains("streams")) << j.dump();
    ASSERT_EQ(j["streams"].size(), 1u) << j.dump();
    const auto& st = j["streams"][0];
    EXPECT_EQ(st.value("codec_name", ""), "h264");
    EXPECT_EQ(st.value("width", 0), 320);
    EXPECT_EQ(st.value("height", 0), 240);
    EXPECT_EQ(st.value("nb_read_frames", ""), std::to_string(kFrames));
    EXPECT_NEAR(formatDuration(j), 2.0, 0.001);
    expectDecodes(file);
}

TEST(Fmp4Test, GapIsHeldSoDurationMatchesTheWallClock) {
    REQUIRE_STREAM();
    REQUIRE_FFPROBE();
    const Stream& s = stream();
    // Two runs of 30 frames (1 s each) with 3 s between them.
    std::vector<Sample> samples = s.samples;
    for (size_t i = 30; i < samples.size(); ++i)
        samples[i].dts += 3 * int64_t(kTimescale);
    ASSERT_TRUE(samples[30].keyframe);  // the second run must start decodable

    Mp4FileWriter writer(s.track);
    for (const Sample& x : samples)
        writer.add({uint32_t(x.data.size()), x.dts, 0, x.duration, x.keyframe});
    EXPECT_EQ(writer.sampleCount(), size_t(kFrames));
    EXPECT_EQ(writer.durationTicks(), 5 * int64_t(kTimescale));

    std::vector<uint8_t> bytes = progressiveFile(s.track, samples);
    // stts: 29 frames of 3000, the last before the gap held for 3 s, 30 more.
    auto stts = findBox(bytes, "moov/trak/mdia/minf/stbl/stts");
    ASSERT_TRUE(stts);
    ASSERT_EQ(be32(bytes, stts->offset + 12), 3u);
    EXPECT_EQ(be32(bytes, stts->offset + 16), 29u);
    EXPECT_EQ(be32(bytes, stts->offset + 20), kFrameTicks);
    EXPECT_EQ(be32(bytes, stts->offset + 24), 1u);
    EXPECT_EQ(be32(bytes, stts->offset + 28), kFrameTicks + 3 * kTimescale);
    EXPECT_EQ(be32(bytes, stts->offset + 32), 30u);

    TempDir dir;
    fs::path file = dir.path() / "gap.mp4";
    writeFile(file, bytes);
    nlohmann::json j =
        probe(file, "-count_frames -show_entries stream=nb_read_frames:format=duration");
    ASSERT_TRUE(j.contains("streams")) << j.dump();
    ASSERT_EQ(j["streams"].size(), 1u) << j.dump();
    EXPECT_NEAR(formatDuration(j), 5.0, 0.05);
    EXPECT_EQ(j["streams"][0].value("nb_read_frames", ""), std::to_string(kFrames));
    expectDecodes(file);
}

// ---------------------------------------------------------------------------
// Mp4FileWriter timing and tables, without external tools

std::vector<std::pair<uint32_t, uint32_t>> sttsEntries(std::span<const uint8_t> bytes) {
    std::vector<std::pair<uint32_t, uint32_t>> out;
    auto stts = findBox(bytes, "moov/trak/mdia/minf/stbl/stts");
    if (!stts)
        return out;
    uint32_t n = be32(bytes, stts->offset + 12);
    for (uint32_t i = 0; i < n; ++i)
        out.emplace_back(be32(bytes, stts->offset + 16 + 8 * i),
                         be32(bytes, stts->offset + 20 + 8 * i));
    return out;
}

TEST(Fmp4Test, WriterFollowsJitterAndNeverGoesBackwards) {
    TrackInfo track{{1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 0}, 64, 64};
    Mp4FileWriter writer(track);
    // Jitter: the second frame comes 100 ticks late and the third on time.
    writer.add({10, 0, 0, 3000, true});
    writer.add({10, 3100, 0, 3000, false});
    writer.add({10, 6000, 0, 3000, false});
    // Backwards: the fourth claims a dts before the third; it cannot move
    // back, so the third keeps its own duration.
    writer.add({10, 5000, 0, 3000, false});
    // Zero duration at the end borrows the previous one.
    writer.add({10, 12000, 0, 0, false});
    std::vector<uint8_t> bytes = writer.header();
    EXPECT_EQ(sttsEntries(bytes),
              (std::vector<std::pair<uint32_t, uint32_t>>{{1, 3100}, {1, 2900}, {3, 3000}}));
    EXPECT_EQ(writer.durationTicks(), 3100 + 2900 + 3000 + 3000 + 3000);
    // mvhd/tkhd/mdhd durations agree with the sample table.
    auto mdhd = findBox(bytes, "moov/trak/mdia/mdhd");
    ASSERT_TRUE(mdhd);
    EXPECT_EQ(be32(bytes, mdhd->offset + 24), 15000u);
    auto mvhd = findBox(bytes, "moov/mvhd");
    ASSERT_TRUE(mvhd);
    EXPECT_EQ(be32(bytes, mvhd->offset + 20), kTimescale);
    EXPECT_EQ(be32(bytes, mvhd->offset + 24), 15000u);
    // stss: samples 1 only.
    auto stss = findBox(bytes, "moov/trak/mdia/minf/stbl/stss");
    ASSERT_TRUE(stss);
    EXPECT_EQ(be32(bytes, stss->offset + 12), 1u);
    EXPECT_EQ(be32(bytes, stss->offset + 16), 1u);
    // stsc: one chunk holding all five; stsz lists five sizes of 10.
    auto stsc = findBox(bytes, "moov/trak/mdia/minf/stbl/stsc");
    ASSERT_TRUE(stsc);
    EXPECT_EQ(be32(bytes, stsc->offset + 12), 1u);
    EXPECT_EQ(be32(bytes, stsc->offset + 20), 5u);
    auto stsz = findBox(bytes, "moov/trak/mdia/minf/stbl/stsz");
    ASSERT_TRUE(stsz);
    EXPECT_EQ(be32(bytes, stsz->offset + 16), 5u);
    // The mdat header ends the buffer and announces 50 bytes of data.
    auto mdat = findBox(bytes, "mdat");
    EXPECT_FALSE(mdat) << "mdat's data is not in the header, so the walker must stop";
    EXPECT_EQ(be32(bytes, bytes.size() - 8), 58u);
    EXPECT_EQ(be32(bytes, bytes.size() - 4), 0x6D646174u);  // "mdat"
}

TEST(Fmp4Test, WriterChoosesCttsVersionBySign) {
    TrackInfo track{{1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 0}, 64, 64};
    auto cttsVersion = [&](std::vector<int32_t> offsets) -> int {
        Mp4FileWriter writer(track);
        for (size_t i = 0; i < offsets.size(); ++i)
            writer.add({10, int64_t(i) * 3000, offsets[i], 3000, i == 0});
        std::vector<uint8_t> bytes = writer.header();
        auto ctts = findBox(bytes, "moov/trak/mdia/minf/stbl/ctts");
        return ctts ? int(bytes[ctts->offset + 8]) : -1;
    };
    EXPECT_EQ(cttsVersion({0, 0, 0}), -1);
    EXPECT_EQ(cttsVersion({6000, 0, 3000}), 0);
    EXPECT_EQ(cttsVersion({3000, -3000, 0}), 1);
}

TEST(Fmp4Test, EmptyWriterGivesAValidEmptyHeader) {
    Mp4FileWriter writer(TrackInfo{{1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 0}, 64, 64});
    EXPECT_EQ(writer.durationTicks(), 0);
    std::vector<uint8_t> bytes = writer.header();
    EXPECT_EQ(be32(bytes, bytes.size() - 8), 8u);
    auto track = parseInitSegment(bytes);
    ASSERT_TRUE(track) << track.error().message;
    EXPECT_EQ(track->width, 64u);
}

// ---------------------------------------------------------------------------
// Damaged input

TEST(Fmp4Test, EveryTruncatedInitSegmentIsAnError) {
    std::vector<uint8_t> init = writeInitSegment(
        TrackInfo{{1, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0, 2, 0x67, 0x64, 1, 0, 1, 0x68}, 320, 240});
    for (size_t n = 0; n < init.size(); ++n) {
        auto r = parseInitSegment(std::span(init).first(n));
        EXPECT_FALSE(r) << "prefix of " << n << " bytes";
        if (!r) {
            EXPECT_NE(r.error().message.find("MP4: "), std::string::npos);
        }
    }
    EXPECT_TRUE(parseInitSegment(init));
}

TEST(Fmp4Test, EveryTruncatedFragmentIsAnError) {
    std::vector<uint8_t> fragment = writeFragment(1, syntheticSamples());
    for (size_t n = 0; n < fragment.size(); ++n)
        EXPECT_FALSE(parseFragment(std::span(fragment).first(n))) << "prefix of " << n;
    EXPECT_TRUE(parseFragment(fragment));
}

TEST(Fmp4Test, CorruptBoxSizesAreErrors) {
    std::vector<uint8_t> init = writeInitSegment(
        TrackInfo{{1, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0, 2, 0x67, 0x64, 1, 0, 1, 0x68}, 320, 240});
    std::vector<uint8_t> fragment = writeFragment(1, syntheticSamples());
    // Boxes the parsers walk (their siblings are walked too, so a bad size
    // anywhere among them must be noticed).
    auto walked = [](const std::string& t) { return t != "dref" && t != "url " && t != "trex"; };
    for (auto* input : {&init, &fragment}) {
        bool isInit = input == &init;
        for (const TestBox& box : boxes(*input)) {
            for (uint32_t size : {0u, 1u, 7u, 9u, 0xFFFFFFFFu}) {
                SCOPED_TRACE(box.path + " size " + std::to_string(size));
                std::vector<uint8_t> bad = *input;
                putBe32(bad, box.offset, size);
                bool ok = isInit ? bool(parseInitSegment(bad)) : bool(parseFragment(bad));
                // Unwalked boxes may go unnoticed; a size of 9 is plausible
                // and what follows it decides: only not crashing counts.
                if (!walked(box.type) || size == 9)
                    continue;
                bool lastTopLevel = box.offset + box.size == input->size() &&
                                    box.path.find('/') == std::string::npos;
                if (size == 0 && lastTopLevel)
                    EXPECT_TRUE(ok) << "size 0 means 'to the end of the file'";
                else
                    EXPECT_FALSE(ok);
            }
        }
    }
}

TEST(Fmp4Test, CorruptTrunFieldsAreErrors) {
    std::vector<uint8_t> fragment = writeFragment(1, syntheticSamples());
    auto trun = findBox(fragment, "moof/traf/trun");
    ASSERT_TRUE(trun);
    size_t count = trun->offset + 12, dataOffset = trun->offset + 16;
    for (auto [at, value] : std::vector<std::pair<size_t, uint32_t>>{
             {count, 0xFFFFFFFFu},                  // more samples than the box holds
             {count, 9},                            // one more than there are
             {dataOffset, 0},                       // data inside the moof
             {dataOffset, 0x7FFFFFFFu},             // far beyond the input
             {dataOffset, 0x80000000u},             // negative
             {trun->offset + 20 + 4, 0xFFFFFFF0u},  // a huge sample size
             {trun->offset + 20 + 4, 0},            // an empty sample
         }) {
        std::vector<uint8_t> bad = fragment;
        putBe32(bad, at, value);
        auto r = parseFragment(bad);
        EXPECT_FALSE(r) << "offset " << at << " = " << value;
    }
    // tfhd claiming a base data offset its box does not have room for.
    auto tfhd = findBox(fragment, "moof/traf/tfhd");
    ASSERT_TRUE(tfhd);
    std::vector<uint8_t> bad = fragment;
    putBe32(bad, tfhd->offset + 8, 0x000001);
    auto r = parseFragment(bad);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("'tfhd' at offset"), std::string::npos) << r.error().message;
}

TEST(Fmp4Test, ErrorsNameTheBoxAndOffset) {
    std::vector<uint8_t> init = writeInitSegment(TrackInfo{{1, 2, 3, 4, 5, 6, 7}, 8, 8});
    auto mdhd = findBox(init, "moov/trak/mdia/mdhd");
    ASSERT_TRUE(mdhd);
    putBe32(init, mdhd->offset + 20, 1000);  // timescale
    auto r = parseInitSegment(init);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("'mdhd' at offset " + std::to_string(mdhd->offset)),
              std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("1000"), std::string::npos) << r.error().message;
}

TEST(Fmp4Test, RejectsWhatIsNotOurs) {
    EXPECT_FALSE(parseInitSegment({}));
    EXPECT_FALSE(parseFragment({}));
    std::vector<uint8_t> fragment = writeFragment(1, syntheticSamples());
    EXPECT_FALSE(parseInitSegment(fragment));
    std::vector<uint8_t> init = writeInitSegment(TrackInfo{{1, 2, 3, 4, 5, 6, 7}, 8, 8});
    EXPECT_FALSE(parseFragment(init));
    // A track that is not avc1.
    auto avc1 = findBox(init, "moov/trak/mdia/minf/stbl/stsd/avc1");
    ASSERT_TRUE(avc1);
    std::vector<uint8_t> hevc = init;
    putBe32(hevc, avc1->offset + 4, 0x68766331);  // "hvc1"
    EXPECT_FALSE(parseInitSegment(hevc));
}

// Random damage: the result may be anything but a crash or an out-of-bounds
// read (run under ASan to see the latter).
TEST(Fmp4Test, RandomCorruptionNeverCrashes) {
    std::mt19937 rng(12345);
    std::vector<uint8_t> init = writeInitSegment(
        TrackInfo{{1, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0, 2, 0x67, 0x64, 1, 0, 1, 0x68}, 320, 240});
    std::vector<uint8_t> fragment = writeFragment(1, syntheticSamples());
    int parsedInit = 0, parsedFragment = 0;
    for (int round = 0; round < 3000; ++round) {
        for (auto* input : {&init, &fragment}) {
            std::vector<uint8_t> bad = *input;
            int flips = 1 + int(rng() % 4);
            for (int k = 0; k < flips; ++k) {
                size_t at = rng() % bad.size();
                bad[at] = (rng() % 2) ? uint8_t(rng()) : uint8_t(bad[at] ^ (1u << (rng() % 8)));
            }
            if (input == &init)
                parsedInit += bool(parseInitSegment(bad));
            else
                parsedFragment += bool(parseFragment(bad));
        }
    }
    // Many flips land in fields the parser does not check (matrix, sample
    // bytes), so both outcomes must have happened.
    EXPECT_GT(parsedInit, 0);
    EXPECT_LT(parsedInit, 3000);
    EXPECT_GT(parsedFragment, 0);
    EXPECT_LT(parsedFragment, 3000);
}

}  // namespace
}  // namespace porchlight::mp4
