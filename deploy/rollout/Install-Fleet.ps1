<#
.SYNOPSIS
  Runs install.ps1 on every PC of tokens.csv (from site-tokens.sh) over
  PowerShell remoting, silently, one line of result per PC. Run from an admin
  workstation with WinRM access to the clinics' PCs (or give the same
  parameters to your RMM tool instead).

.EXAMPLE
  .\Install-Fleet.ps1 -Tokens .\tokens.csv -Server https://onshi.example.jp:50051 -Share \\deploy\onshi
#>
param(
    [Parameter(Mandatory = $true)][string]$Tokens,
    [Parameter(Mandatory = $true)][string]$Server,
    # Folder with install.ps1 and the signed onshi-agent.exe, readable by the PCs.
    [Parameter(Mandatory = $true)][string]$Share,
    [int]$ThrottleLimit = 16
)
$ErrorActionPreference = 'Stop'
Import-Csv $Tokens | ForEach-Object {
    $row = $_
    try {
        $code = Invoke-Command -ComputerName $row.pc -ThrottleLimit $ThrottleLimit -ScriptBlock {
            param($share, $server, $site, $token, $fingerprint)
            & powershell -NoProfile -ExecutionPolicy Bypass -File (Join-Path $share 'install.ps1') `
                -Server $server -SiteId $site -Token $token -CaFingerprint $fingerprint `
                -SourceExe (Join-Path $share 'onshi-agent.exe') | Out-Null
            $LASTEXITCODE
        } -ArgumentList $Share, $Server, $row.site_id, $row.token, $row.ca_fingerprint
        $result = if ($code -eq 0) { 'ok' } else { "failed (exit $code, see %ProgramData%\OnshiAgent-install.log)" }
    } catch {
        $result = "unreachable: $($_.Exception.Message)"
    }
    [pscustomobject]@{ site_id = $row.site_id; pc = $row.pc; result = $result }
} | Export-Csv -NoTypeInformation -Encoding UTF8 rollout-result.csv
Write-Host 'Results in rollout-result.csv'
