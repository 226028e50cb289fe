import AddonMockKit
import CCEAddons
import ModelArtsPlugins

/// The emulated APIs a plain `addonmock serve` runs: one line per service target (Sources/Services/…).
public enum BuiltInServices {
    public static let all: [ServiceDefinition] = [CCE.definition, ModelArts.definition]
}
