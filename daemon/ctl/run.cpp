// porchlightctl's flow: see run.h.
#include "run.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "bus_client.h"
#include "ctl.h"
#include "porchlight-config.h"

namespace porchlight::ctl {

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr int64_t kStatusEventsWindowUs = int64_t{kStatusEventsDays} * 24 * 3600 * 1'000'000;

int64_t nowUs() {
    using namespace std::chrono;
    return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

/// What a command prints, as text or as JSON; it fails with the message to show.
struct Output {
    std::string text;
    Json json;
};

class Runner {
public:
    Runner(const Command& command, BusClient& client, std::ostream& err)
        : command_(command), client_(client), err_(err) {}

    /// Fills \a out, or says why not on err_ and returns false.
    bool execute(Output& out) {
        switch (command_.verb) {
            case Verb::Status:
                return status(out);
            case Verb::Cameras:
                return cameras(out);
            case Verb::Retention:
                return retention(out);
            case Verb::Recordings:
                return recordings(out);
            case Verb::Events:
                return events(out);
            case Verb::Ring:
                return ring(out);
            case Verb::Reload:
                return reload(out);
            case Verb::SetupCode:
                return setupCode(out);
            case Verb::Help:
            case Verb::Version:
                break;
        }
        return false;
    }

private:
    /// The value of \a result, or nullptr after reporting its failure.
    template <typename T>
    T* check(BusResult<T>& result) {
        if (result)
            return &*result;
        err_ << "porchlightctl: " << explainFailure(result.failure(), command_.verb) << "\n";
        return nullptr;
    }

    bool status(Output& out) {
        StatusInfo s;
        auto manager = client_.manager();
        if (!check(manager))
            return false;
        s.manager = *manager;
        auto cameras = client_.cameras();
        if (!check(cameras))
            return false;
        s.cameras = *cameras;
        for (const CameraInfo& c : s.cameras) {
            // A camera removed by a reload since the list came is simply left out.
            auto r = client_.retention(c.id);
            if (r)
                s.retention[c.id] = *r;
        }
        const int64_t now = nowUs();
        auto events =
            client_.events("", now - kStatusEventsWindowUs, std::numeric_limits<int64_t>::max());
        if (!check(events))
            return false;
        std::vector<EventInfo>& e = *events;
        std::stable_sort(e.begin(), e.end(),
                         [](const EventInfo& a, const EventInfo& b) { return a.start < b.start; });
        if (e.size() > kStatusEvents)
            e.erase(e.begin(), e.end() - kStatusEvents);
        s.lastEvents = std::move(e);
        out.text = renderStatus(s, now);
        out.json = statusJson(s);
        return true;
    }

    bool cameras(Output& out) {
        auto cameras = client_.cameras();
        if (!check(cameras))
            return false;
        out.text = renderCameras(*cameras);
        out.json = Json::array();
        for (const CameraInfo& c : *cameras)
            out.json.push_back(cameraJson(c));
        return true;
    }

    bool retention(Output& out) {
        if (command_.days || command_.bytes) {
            auto set = client_.setRetention(command_.camera, command_.days, command_.bytes);
            if (!check(set))
                return false;
        }
        // Shown after a change too: the reader sees what is now in force.
        auto r = client_.retention(command_.camera);
        if (!check(r))
            return false;
        out.text = renderRetention(command_.camera, *r);
        out.json = retentionJson(command_.camera, *r);
        return true;
    }

    bool recordings(Output& out) {
        auto list =
            client_.recordings(command_.camera, command_.since.value_or(0),
                               command_.until.value_or(std::numeric_limits<int64_t>::max()));
        if (!check(list))
            return false;
        out.text = renderRecordings(*list);
        out.json = Json::array();
        for (const RecordingInfo& r : *list)
            out.json.push_back(recordingJson(r));
        return true;
    }

    bool events(Output& out) {
        auto list = client_.events(command_.camera, command_.since.value_or(0),
                                   command_.until.value_or(std::numeric_limits<int64_t>::max()));
        if (!check(list))
            return false;
        out.text = renderEvents(*list);
        out.json = Json::array();
        for (const EventInfo& e : *list)
            out.json.push_back(eventJson(e));
        return true;
    }

    bool ring(Output& out) {
        auto done = client_.ring(command_.camera);
        if (!check(done))
            return false;
        out.text = "Rang " + command_.camera + "'s doorbell.\n";
        out.json = {{"camera", command_.camera}, {"rang", true}};
        return true;
    }

    bool reload(Output& out) {
        auto done = client_.reload();
        if (!check(done))
            return false;
        out.text = "Configuration reloaded.\n";
        out.json = {{"reloaded", true}};
        return true;
    }

    bool setupCode(Output& out) {
        auto code = client_.setupCode();
        if (!check(code))
            return false;
        out.text = *code + "\n";
        out.json = {{"setup_code", *code}};
        return true;
    }

    const Command& command_;
    BusClient& client_;
    std::ostream& err_;
};

}  // namespace

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    ParseResult parsed = parseArguments(args, nowUs());
    if (!parsed.ok()) {
        err << "porchlightctl: " << parsed.error.message << "\n";
        return kExitUsage;
    }
    const Command& command = *parsed.command;
    if (command.verb == Verb::Help) {
        out << usageText();
        return 0;
    }
    if (command.verb == Verb::Version) {
        out << "porchlightctl " << PORCHLIGHT_VERSION << "\n";
        return 0;
    }

    auto client = BusClient::connect(command.user);
    if (!client) {
        err << "porchlightctl: " << explainFailure(client.failure(), command.verb) << "\n";
        return kExitFailure;
    }
    Runner runner(command, *client, err);
    Output output;
    if (!runner.execute(output))
        return kExitFailure;
    if (command.json)
        // Replace rather than throw on a camera's error text that is not UTF-8.
        out << output.json.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
    else
        out << output.text;
    out.flush();
    return out ? 0 : kExitFailure;
}

}  // namespace porchlight::ctl
