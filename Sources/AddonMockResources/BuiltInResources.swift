/// Data compiled into the binary: the catalogs from `fixtures/`.
public enum BuiltInResources {
    public static var cceAddonTemplates: [UInt8] { PackageResources.cce_addon_templates_json }
    public static var modelArtsPluginTemplates: [UInt8] { PackageResources.modelarts_plugin_templates_json }
}
