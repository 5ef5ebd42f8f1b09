// porchlightctl's side of the D-Bus API (daemon/dbus/org.porchlight.Nvr1.xml):
// synchronous sd-bus calls that turn replies into ctl.h's plain structs.
#pragma once

#include <cassert>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ctl.h"

struct sd_bus;

namespace porchlight::ctl {

/// A value or the bus failure that prevented it.
template <typename T>
class [[nodiscard]] BusResult {
public:
    BusResult(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    BusResult(BusFailure failure) : v_(std::in_place_index<1>, std::move(failure)) {}

    explicit operator bool() const { return v_.index() == 0; }
    T& operator*() {
        assert(v_.index() == 0);
        return std::get<0>(v_);
    }
    T* operator->() { return &**this; }
    const BusFailure& failure() const {
        assert(v_.index() == 1);
        return std::get<1>(v_);
    }

private:
    std::variant<T, BusFailure> v_;
};

/// What a call that returns nothing returns.
struct Done {};

class BusClient {
public:
    /// Connect to the system bus, or with \a user the session bus (which
    /// honours DBUS_SESSION_BUS_ADDRESS).
    static BusResult<BusClient> connect(bool user);

    BusResult<ManagerInfo> manager();
    /// Every camera, from one ObjectManager call, sorted by id.
    BusResult<std::vector<CameraInfo>> cameras();
    BusResult<RetentionInfo> retention(const std::string& camera);
    /// Either value may be left out; 0 removes that limit.
    BusResult<Done> setRetention(const std::string& camera, std::optional<double> maxDays,
                                 std::optional<uint64_t> maxBytes);
    BusResult<std::vector<RecordingInfo>> recordings(const std::string& camera, int64_t from,
                                                     int64_t to);
    BusResult<std::vector<EventInfo>> events(const std::string& camera, int64_t from, int64_t to);
    BusResult<Done> ring(const std::string& camera);
    BusResult<Done> reload();
    BusResult<std::string> setupCode();

private:
    struct BusDeleter {
        void operator()(sd_bus* bus) const;
    };
    using BusPtr = std::unique_ptr<sd_bus, BusDeleter>;

    explicit BusClient(BusPtr bus) : bus_(std::move(bus)) {}

    BusPtr bus_;
};

}  // namespace porchlight::ctl
