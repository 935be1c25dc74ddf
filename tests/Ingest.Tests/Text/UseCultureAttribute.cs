using System.Globalization;
using System.Reflection;
using Xunit.Sdk;

namespace Pipeline.Ingest.Tests.Text;

/// <summary>Runs a test under the given culture (and UI culture), restoring the previous one afterwards.</summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Class, AllowMultiple = false, Inherited = true)]
internal sealed class UseCultureAttribute(string culture) : BeforeAfterTestAttribute
{
    private CultureInfo? _savedCulture;
    private CultureInfo? _savedUiCulture;

    public string Culture { get; } = culture;

    public override void Before(MethodInfo methodUnderTest)
    {
        _savedCulture = CultureInfo.CurrentCulture;
        _savedUiCulture = CultureInfo.CurrentUICulture;
        CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo(Culture);
        CultureInfo.CurrentUICulture = CultureInfo.GetCultureInfo(Culture);
    }

    public override void After(MethodInfo methodUnderTest)
    {
        CultureInfo.CurrentCulture = _savedCulture!;
        CultureInfo.CurrentUICulture = _savedUiCulture!;
    }
}
