// Fragmented MP4 for H.264, written and read by Porchlight itself.
//
// Recording needs exact control over fragment boundaries (each fragment is
// one encrypted chunk on disk, flushed as it completes), and export and
// playback need to read those fragments back; a few hundred lines of box
// writing is simpler and more predictable than driving mp4mux for that.
//
// Timestamps are in a 90 kHz timescale throughout.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "expected.h"

namespace porchlight::mp4 {

constexpr uint32_t kTimescale = 90000;

/// What the init segment describes: one H.264 video track.
struct TrackInfo {
    std::vector<uint8_t> avcC;  // AVCDecoderConfigurationRecord (GStreamer's codec_data)
    uint32_t width = 0;
    uint32_t height = 0;
    bool operator==(const TrackInfo&) const = default;
};

/// One access unit: length-prefixed (4-byte) NAL units, as stream-format=avc carries them.
struct Sample {
    std::vector<uint8_t> data;
    int64_t dts = 0;        // 90 kHz
    int32_t ctsOffset = 0;  // pts - dts, 90 kHz
    uint32_t duration = 0;  // 90 kHz
    bool keyframe = false;
};

/// ftyp + moov (with mvex, so fragments may follow).
std::vector<uint8_t> writeInitSegment(const TrackInfo& track);

/// moof + mdat holding \a samples; tfdt = samples[0].dts. \a sequence counts from 1.
std::vector<uint8_t> writeFragment(uint32_t sequence, std::span<const Sample> samples);

/// Parse an init segment written by writeInitSegment (or any single-track H.264 one).
Expected<TrackInfo> parseInitSegment(std::span<const uint8_t> bytes);

/// Parse one moof+mdat back into samples (dts from tfdt plus durations).
Expected<std::vector<Sample>> parseFragment(std::span<const uint8_t> bytes);

/// What a progressive MP4 needs to know of a sample before its data is written.
struct SampleInfo {
    uint32_t size = 0;
    int64_t dts = 0;        // 90 kHz
    int32_t ctsOffset = 0;  // 90 kHz
    uint32_t duration = 0;  // 90 kHz
    bool keyframe = false;
};

/// A whole, non-fragmented MP4 with the moov first ("fast start"), so that
/// players and browsers can start before the download ends.
///
/// Two passes, so memory stays small for an hour of video: add() every
/// sample's metadata, header() (ftyp, moov, mdat header), then the
/// caller writes every sample's data, in the same order, right after it.
/// Samples must come in decode order with rising dts. A gap between one
/// sample's end and the next one's dts is kept by holding the earlier frame,
/// so the file's duration stays true to the wall clock.
class Mp4FileWriter {
public:
    explicit Mp4FileWriter(TrackInfo track);
    void add(const SampleInfo& sample);
    size_t sampleCount() const { return samples_.size(); }
    /// From the first dts to the end of the last sample, 90 kHz.
    int64_t durationTicks() const;
    /// The bytes that go before the sample data: ftyp, moov, and the mdat box header.
    std::vector<uint8_t> header() const;

private:
    TrackInfo track_;
    std::vector<SampleInfo> samples_;
};

}  // namespace porchlight::mp4
