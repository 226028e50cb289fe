/// This build's version: `addonmock --version`, the start-up log line and `/_mock/config`.
public enum AddonMockVersion {
    public static let current = "0.3.0"
}
