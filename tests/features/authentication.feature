Feature: Authentications defined once and used by name
  As a user of swirl
  I want to name an authentication in 'use.authentications' and use it in calls
  So that credentials are written once, not in every task

  # The named basic authentication is sent as the call's Authorization header
  Scenario: Call With A Named Basic Authentication
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: named-basic
      version: '1.0.0'
    use:
      authentications:
        httpbin:
          basic:
            username: ada
            password: ${ .password }
    do:
      - login:
          call: http
          with:
            method: get
            endpoint:
              uri: https://httpbin.org/basic-auth/ada/lovelace
              authentication:
                use: httpbin
    """
    And given the workflow input is:
    """yaml
    password: lovelace
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    authenticated: true
    user: ada
    """

  # A wrong password is the server's 401, a communication error
  Scenario: Call With A Named Basic Authentication The Server Refuses
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: named-basic-refused
      version: '1.0.0'
    use:
      authentications:
        httpbin:
          basic:
            username: ada
            password: babbage
    do:
      - login:
          call: http
          with:
            method: get
            endpoint:
              uri: https://httpbin.org/basic-auth/ada/lovelace
              authentication:
                use: httpbin
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    status: 401
    """

  # A named bearer authentication
  Scenario: Call With A Named Bearer Authentication
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: named-bearer
      version: '1.0.0'
    use:
      authentications:
        token:
          bearer:
            token: t0k3n
    do:
      - whoami:
          call: http
          with:
            method: get
            endpoint:
              uri: https://httpbin.org/bearer
              authentication:
                use: token
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    authenticated: true
    token: t0k3n
    """

  # A secret of the manifest, listed in use.secrets, in a named bearer
  # authentication; its value reaches the server but no record
  Scenario: Call With A Bearer Token From A Secret
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: secret-bearer
      version: '1.0.0'
    use:
      secrets:
        - apiToken
      authentications:
        api:
          bearer:
            token: ${ $secrets.apiToken }
    do:
      - whoami:
          call: http
          with:
            method: get
            endpoint:
              uri: https://httpbin.org/bearer
              authentication:
                use: api
          output:
            as: .authenticated
    """
    And the app has the secret 'apiToken' with value:
    """
    s3cr3t-t0k3n-42
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    true
    """

  # A secret holding the scheme's fields: basic: {use: secret}
  Scenario: Call With A Basic Authentication Read From A Secret
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: secret-basic
      version: '1.0.0'
    use:
      secrets:
        - login
      authentications:
        httpbin:
          basic:
            use: login
    do:
      - login:
          call: http
          with:
            method: get
            endpoint:
              uri: https://httpbin.org/basic-auth/ada/l0velace-secret
              authentication:
                use: httpbin
          output:
            as: .authenticated
    """
    And the app has the secret 'login' with value:
    """
    {"username": "ada", "password": "l0velace-secret"}
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    true
    """

  # Data that carries a made-up stand-in does not get a secret
  Scenario: Expressions See Stand-Ins, Not Secret Values
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: secret-stand-in
      version: '1.0.0'
    use:
      secrets:
        - apiToken
    do:
      - look:
          set:
            seen: ${ $secrets.apiToken | startswith("{{swirl-secret:apiToken:") }
    """
    And the app has the secret 'apiToken' with value:
    """
    s3cr3t-t0k3n-42
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    seen: true
    """
