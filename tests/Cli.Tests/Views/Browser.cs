using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace Pipeline.Cli.Tests.Views;

/// <summary>
/// Debian's chromium driven through chromium-driver (scripts/setup.sh installs both where it can). Paths can be
/// overridden with MMTRACE_CHROMIUM and MMTRACE_CHROMEDRIVER; Selenium Manager is never asked to download anything.
/// </summary>
internal static class Browser
{
    public static string ChromiumPath => Environment.GetEnvironmentVariable("MMTRACE_CHROMIUM") ?? "/usr/bin/chromium";

    public static string DriverPath => Environment.GetEnvironmentVariable("MMTRACE_CHROMEDRIVER") ?? "/usr/bin/chromedriver";

    public static bool IsAvailable(out string reason)
    {
        if (!File.Exists(ChromiumPath))
        {
            reason = $"no chromium at {ChromiumPath} (apt-get install chromium, as root: scripts/setup.sh does it)";
            return false;
        }
        if (!File.Exists(DriverPath))
        {
            reason = $"no chromedriver at {DriverPath} (apt-get install chromium-driver)";
            return false;
        }
        reason = "";
        return true;
    }

    public static ChromeDriver Start()
    {
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(DriverPath)!, Path.GetFileName(DriverPath));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = ChromiumPath };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1800");
        options.SetLoggingPreference(LogType.Browser, LogLevel.All);
        return new ChromeDriver(service, options, TimeSpan.FromMinutes(2));
    }

    /// <summary>Where tests keep screenshots: tests/Cli.Tests/bin/…/artifacts (or MMTRACE_ARTIFACTS).</summary>
    public static string ArtifactsDirectory()
    {
        var dir = Environment.GetEnvironmentVariable("MMTRACE_ARTIFACTS") ?? Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(dir);
        return dir;
    }
}

/// <summary>A fact that needs chromium and chromedriver (and, with <see cref="NeedsCorpus"/>, the recorded corpus); skipped with the reason otherwise.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class BrowserFactAttribute : FactAttribute
{
    private string? _skip;
    private bool _decided;

    /// <summary>Also reads shared/corpus/recorded.</summary>
    public bool NeedsCorpus { get; set; }

    /// <inheritdoc />
    public override string Skip
    {
        get
        {
            if (!_decided)
            {
                _decided = true;
                if (!Browser.IsAvailable(out var reason))
                {
                    _skip = $"No browser: {reason}";
                }
                else if (NeedsCorpus)
                {
                    _skip = CorpusFactAttribute.MissingReason()!;
                }
            }
            return _skip!;
        }
        set => _skip = value;
    }
}
